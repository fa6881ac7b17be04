"""The digest read from the daily roll-ups equals the digest counted from the raw rows, on both backends,
over random histories written through the services (intake, merge, unmerge, resolve, reopen, tags,
internal reporters) and moved in time by direct updates (the triggers follow every write); on PostgreSQL
before and after the fold of the pending changes. And on PostgreSQL: concurrent intakes do not wait on
each other's row locks, and the fold moves what committed, once, under a lock of its own."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from bot.config import AppConfig
from bot.domain.errors import DomainError
from bot.domain.intake import IntakeRequest
from bot.services import triage
from bot.services.digest import compute_digest
from bot.services.digest_rollups import ROLLED, fold, split_days
from bot.services.intake import ingest_issue
from db.models import digest_daily, digest_daily_delta, issues, problems
from db.session import Database
from schedules import digest_rollups as rollup_schedule
from schedules.scheduler import Scheduler

END = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin, as the weekly digest
DAY = timedelta(days=1)
SOURCES = ("email", "webform", "zendesk", "api")
AREAS = ("billing", "auth", "reports", None)
TAGS = ("bug", "ui", "crash", "sync")


def _moment(rng: random.Random) -> datetime:
    """Mostly anywhere in the 70 days before END; sometimes exactly on a boundary a digest reads
    (a window's edge, a backlog bucket's, a UTC midnight) or a microsecond beside it."""
    if rng.random() < 0.3:
        base = rng.choice(
            [END - k * DAY for k in (1, 7, 14, 30, 60)]
            + [datetime(2026, 11, d, tzinfo=UTC) for d in (1, 9, 16, 22, 23)]
        )
        return base + timedelta(microseconds=rng.choice((-1, 0, 1)))
    return END - timedelta(seconds=rng.randrange(70 * 86400)) + timedelta(hours=rng.choice((0, 0, 0, 20)))


def _request(rng: random.Random, n: int) -> IntakeRequest:
    person = rng.randrange(6)
    domain = "colleague.test" if person == 5 else "acme.test"  # internal: not counted as a customer
    return IntakeRequest.model_validate(
        {
            "external_id": f"R-{n}",
            "source": rng.choice(SOURCES),
            "subject": f"Problem number {rng.randrange(8)} in {rng.choice(('exports', 'login', 'sync'))}",
            "body": f"Report {n}.",
            "customer": {"id": f"c{person}", "name": f"C {person}", "email": f"c{person}@{domain}"},
            "product_area": rng.choice(AREAS),
            "tags": rng.sample(TAGS, rng.randrange(3)),
        }
    )


def _shuffle_history(rng: random.Random, conn: Connection, ids: list[int]) -> dict[int, int]:
    """Merges, unmerges, resolutions, reopenings, tag edits and moved moments, at random: how many of
    each action went through."""
    done: dict[int, int] = {}
    for _ in range(3 * len(ids)):
        issue_id = rng.choice(ids)
        action = rng.randrange(7)
        try:
            with conn.begin_nested():
                if action == 0:
                    target = rng.choice(list(conn.execute(select(problems.c.id)).scalars()))
                    triage.merge(conn, issue_id, "U0AGENT001", target)
                elif action == 1:
                    triage.unmerge(conn, issue_id, "U0AGENT001")
                elif action == 2:
                    triage.resolve(conn, issue_id, "U0AGENT001")
                elif action == 3:
                    triage.reopen(conn, issue_id, "U0AGENT001")
                elif action == 4:
                    triage.set_tags(
                        conn, issue_id, "U0AGENT001", rng.sample(TAGS, rng.randrange(3)), list(TAGS)
                    )
                elif action == 5:  # resolved at some moment of the history
                    conn.execute(
                        update(issues)
                        .where(issues.c.id == issue_id, issues.c.resolved_at.is_not(None))
                        .values(resolved_at=_moment(rng))
                    )
                else:  # the area or the source corrected
                    conn.execute(
                        update(issues)
                        .where(issues.c.id == issue_id)
                        .values(product_area=rng.choice(AREAS), source=rng.choice(SOURCES))
                    )
        except DomainError:
            continue
        done[action] = done.get(action, 0) + 1
    return done


def _windows(rng: random.Random) -> list[tuple[datetime, datetime]]:
    odd_end = END - timedelta(days=rng.randrange(20), minutes=rng.randrange(1440))
    return [
        (END - 7 * DAY, END),
        (END - 30 * DAY, END),
        (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)),  # whole days only
        (odd_end - timedelta(hours=rng.randrange(1, 400)), odd_end),
        (END - timedelta(hours=5), END),  # no whole day at all
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_rolled_up_digest_is_the_raw_digest(
    database: Database, make_config: Any, seed: int
) -> None:
    rng = random.Random(seed)
    config: AppConfig = make_config(internal={"email_domains": ["colleague.test"]})
    ids = []
    for n in range(40):
        result = await ingest_issue(
            database, config, _request(rng, n), delivery_key=f"intake:test:{seed}:{n}"
        )
        ids.append(result.issue_id)
        moment = _moment(rng)
        await database.transaction(
            lambda conn, i=result.issue_id, m=moment: conn.execute(
                update(issues).where(issues.c.id == i).values(received_at=m, reported_at=m)
            )
        )
    done = await database.transaction(lambda conn: _shuffle_history(rng, conn, ids))
    assert set(done) == set(range(7))  # every kind of change happened

    # Before any fold: the roll-ups as read (digest_daily plus the pending changes) are a fresh count.
    pending = await database.transaction(_delta_rows)
    if database.dialect == "postgresql":
        assert pending > 0  # PostgreSQL's triggers only append changes
    else:
        assert pending == 0  # SQLite's update digest_daily in place
    read, recounted = await database.transaction(lambda conn: (_kept(conn, ROLLED), _recount(conn)))
    assert read == recounted

    def both(conn: Connection) -> list[tuple[Any, Any]]:
        return [
            (compute_digest(conn, config, s, e), compute_digest(conn, config, s, e, rollups=False))
            for s, e in _windows(rng)
        ]

    pairs = await database.transaction(both)  # the digest folds first
    for rolled, raw in pairs:
        assert rolled == raw
    # The histories are not trivial: something to count in each section of the weekly digest.
    weekly = pairs[0][1]
    assert weekly.new_issues.now > 0 and weekly.by_tag and weekly.by_area and weekly.backlog.total > 0

    # Folded: nothing pending, and digest_daily alone is exactly a fresh count of the raw rows.
    assert await database.transaction(_delta_rows) == 0
    kept, recounted = await database.transaction(lambda conn: (_kept(conn, digest_daily), _recount(conn)))
    assert kept == recounted


def _delta_rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(digest_daily_delta)).scalar_one())


def _kept(conn: Connection, source: Any) -> set[Any]:
    """The roll-ups in `source` (digest_daily or ROLLED), summed per key, the zeros left out."""
    rows = conn.execute(
        select(source.c.day, source.c.measure, source.c.name, func.sum(source.c.n)).group_by(
            source.c.day, source.c.measure, source.c.name
        )
    )
    return {(str(d)[:10], m, name, int(n)) for d, m, name, n in rows if n}


def _recount(conn: Connection) -> set[Any]:
    """The roll-ups counted afresh from the raw rows."""
    day = "date(%s)" if conn.dialect.name == "sqlite" else "((%s) AT TIME ZONE 'UTC')::date"
    recount = f"""
        SELECT {day % "received_at"}, 'received', '', count(*) FROM issues GROUP BY 1
        UNION ALL SELECT {day % "received_at"}, 'source', source, count(*) FROM issues GROUP BY 1, 3
        UNION ALL SELECT {day % "received_at"}, CASE WHEN product_area IS NULL THEN 'area_none'
            ELSE 'area' END, COALESCE(product_area, ''), count(*) FROM issues GROUP BY 1, 2, 3
        UNION ALL SELECT {day % "received_at"}, 'open', '', count(*) FROM issues
            WHERE status = 'open' GROUP BY 1
        UNION ALL SELECT {day % "resolved_at"}, 'resolved', '', count(*) FROM issues
            WHERE resolved_at IS NOT NULL GROUP BY 1
        UNION ALL SELECT {day % "i.received_at"}, 'tag', t.tag, count(*) FROM issue_tags AS t
            JOIN issues AS i ON i.id = t.issue_id GROUP BY 1, 3
    """
    return {(str(d)[:10], m, name, n) for d, m, name, n in conn.execute(text(recount))}


def _report(problem_id: int, n: int) -> Any:
    """A report of today inserted as a statement of the caller's open transaction."""
    return insert(issues).values(
        source="api",
        external_id=f"open-{n}",
        problem_id=problem_id,
        subject=f"Report {n}",
        body="Something broke.",
        product_area="billing",
        channel_id="C0ISSUES01",
        reported_at=END,
        received_at=END,
    )


async def _first_problem(database: Database, make_config: Any) -> int:
    result = await ingest_issue(
        database, make_config(), _request(random.Random(9), 0), delivery_key="intake:test:lock"
    )
    return int(
        await database.transaction(
            lambda conn: conn.execute(
                select(issues.c.problem_id).where(issues.c.id == result.issue_id)
            ).scalar_one()
        )
    )


async def test_concurrent_intakes_of_one_day_do_not_wait_on_each_other(
    postgres_url: str, make_config: Any
) -> None:
    """Two reports of the same day, each in a transaction still open: the second insert (and its
    roll-up trigger) completes while the first is uncommitted. A shared per-day counter row would make
    it wait for the first's commit, and fail here on its 1-second lock timeout."""
    database = Database(postgres_url)
    try:
        problem_id = await _first_problem(database, make_config)
        async with database.engine.connect() as first, database.engine.connect() as second:
            await first.begin()
            await first.execute(_report(problem_id, 1))
            await second.begin()
            await second.execute(text("SET LOCAL lock_timeout = '1s'"))
            await second.execute(_report(problem_id, 2))  # would raise a lock timeout if it waited
            await second.commit()
            await first.commit()
        read, recounted = await database.transaction(lambda conn: (_kept(conn, ROLLED), _recount(conn)))
        assert read == recounted
        assert ("2026-11-23", "received", "", 2) in read
    finally:
        await database.dispose()


async def test_the_fold_moves_what_committed_once_and_folds_never_race(
    postgres_url: str, make_config: Any
) -> None:
    database = Database(postgres_url)
    try:
        problem_id = await _first_problem(database, make_config)
        assert await database.transaction(_delta_rows) > 0
        async with database.engine.connect() as open_intake:
            await open_intake.begin()
            await open_intake.execute(_report(problem_id, 1))  # not committed during the fold
            assert await database.transaction(fold) > 0  # does not wait for the open intake
            assert await database.transaction(_delta_rows) == 0  # the open intake's deltas are not seen
            folded = await database.transaction(lambda conn: _kept(conn, digest_daily))
            assert folded == await database.transaction(_recount)  # the committed report, counted once
            await open_intake.commit()
        assert await database.transaction(_delta_rows) > 0  # the late intake's changes wait
        read, recounted = await database.transaction(lambda conn: (_kept(conn, ROLLED), _recount(conn)))
        assert read == recounted and read != folded
        assert await database.transaction(fold) > 0
        assert await database.transaction(fold) == 0  # nothing twice
        assert await database.transaction(lambda conn: _kept(conn, digest_daily)) == recounted

        # A fold holds its lock to its commit: a second one waits for it (here: times out).
        async with database.engine.connect() as one, database.engine.connect() as other:
            await one.begin()
            await one.run_sync(fold)
            await other.begin()
            await other.execute(text("SET LOCAL lock_timeout = '1s'"))
            with pytest.raises(DBAPIError, match="lock timeout"):
                await other.run_sync(fold)
            await other.rollback()
            await one.commit()

        # The scheduled fold: one job, every minute, through guarded_job; it folds what is pending.
        await database.transaction(lambda conn: conn.execute(_report(problem_id, 3)))
        assert await database.transaction(_delta_rows) > 0
        scheduler = Scheduler(database, UTC)
        rollup_schedule.register(scheduler, database, lambda: None)
        [(job, trigger)] = scheduler._jobs
        assert trigger == {"trigger": "interval", "seconds": rollup_schedule.FOLD_SECONDS} and job.__name__
        await job()
        assert await database.transaction(_delta_rows) == 0
        assert await database.transaction(
            lambda conn: _kept(conn, digest_daily)
        ) == await database.transaction(_recount)
    finally:
        await database.dispose()


def test_a_range_is_its_whole_days_and_its_edges() -> None:
    edges, days = split_days(END - 7 * DAY, END)  # 16 Nov 08:00 to 23 Nov 08:00
    assert days == (datetime(2026, 11, 17).date(), datetime(2026, 11, 23).date())
    assert edges == [
        (END - 7 * DAY, datetime(2026, 11, 17, tzinfo=UTC)),
        (datetime(2026, 11, 23, tzinfo=UTC), END),
    ]
    midnight = datetime(2026, 11, 16, tzinfo=UTC)
    assert split_days(midnight, midnight + 2 * DAY) == ([], (midnight.date(), (midnight + 2 * DAY).date()))
    assert split_days(END - timedelta(hours=5), END) == ([(END - timedelta(hours=5), END)], None)
    assert split_days(None, END) == ([(datetime(2026, 11, 23, tzinfo=UTC), END)], (None, END.date()))
