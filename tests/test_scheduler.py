"""The scheduler: one active process on PostgreSQL (advisory lock), take-over when it goes, jobs only
where it leads, and `once` as the record that makes a scheduled send exactly once."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest

from bot.services.runs import once
from db.session import Database
from schedules.scheduler import Scheduler

BERLIN = ZoneInfo("Europe/Berlin")


async def test_once_is_true_the_first_time_only(database: Database) -> None:
    assert await database.transaction(lambda conn: once(conn, "release.heads_up", "2.4.0"))
    assert not await database.transaction(lambda conn: once(conn, "release.heads_up", "2.4.0"))
    assert await database.transaction(lambda conn: once(conn, "release.heads_up", "2.5.0"))
    claims = await asyncio.gather(
        *(database.transaction(lambda conn: once(conn, "digest", "2026-W48")) for _ in range(5))
    )
    assert sorted(claims) == [False, False, False, False, True]


# PostgreSQL only: the advisory lock is PostgreSQL's (on SQLite there is one process by design, below).
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_jobs_run_in_one_process_and_another_takes_over(database_url: str) -> None:
    ran: dict[str, int] = {"a": 0, "b": 0}
    databases = [Database(database_url), Database(database_url)]
    schedulers = [Scheduler(db, BERLIN, poll_seconds=0.1) for db in databases]
    for name, scheduler in zip("ab", schedulers, strict=True):

        async def tick(name: str = name) -> None:
            ran[name] += 1

        tick.__name__ = f"tick_{name}"
        scheduler.add_job(tick, "interval", seconds=0.1)
    try:
        for scheduler in schedulers:
            scheduler.start()
        await asyncio.sleep(0.8)
        leaders = [s.is_leader for s in schedulers]
        assert leaders.count(True) == 1
        first = leaders.index(True)
        other = 1 - first
        assert ran["ab"[first]] > 0 and ran["ab"[other]] == 0
        await schedulers[first].stop()  # the leader goes away (a restart, a crash)
        for _ in range(50):
            if schedulers[other].is_leader:
                break
            await asyncio.sleep(0.1)
        assert schedulers[other].is_leader
        before = ran["ab"[other]]
        await asyncio.sleep(0.5)
        assert ran["ab"[other]] > before
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
        for db in databases:
            await db.dispose()


async def test_on_sqlite_the_one_process_leads(tmp_path: object) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/one.db")
    scheduler = Scheduler(database, BERLIN, poll_seconds=0.1)
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    scheduler.add_job(job, "interval", seconds=0.1)
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=5)
        assert scheduler.is_leader
    finally:
        await scheduler.stop()
        await database.dispose()
