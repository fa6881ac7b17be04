"""The similar-problem index kept in step with the database, in each process that needs it.

`bot.services.similarity.ProblemIndex` is in memory and pure; this keeps it current: the first use loads
every report, and later uses (at most once per `REFRESH_SECONDS`) read only the reports and problems
changed since the last look — new reports, merges, resolutions — through the `updated_at` indexes.
Several processes each keep their own copy; they agree within a refresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from bot.services.similarity import Match, ProblemIndex
from db.models import issues, problems
from db.session import Database

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
# A change committed slightly after a later-stamped one must not be missed: look back this far.
OVERLAP = timedelta(seconds=2)
INDEXED_BODY_MAX = 2000
LOAD_CHUNK = 2000
# Indexing a report takes ~150 µs; yield to the event loop between slices so a large first load
# (100,000 reports: ~15 s) never holds up acks.
YIELD_EVERY = 100

REPORTS = select(
    issues.c.id,
    issues.c.problem_id,
    issues.c.subject,
    func.substr(issues.c.body, 1, INDEXED_BODY_MAX).label("body"),
    problems.c.status,
    issues.c.updated_at,
).join(problems, problems.c.id == issues.c.problem_id)
PROBLEM_STATES = select(problems.c.id, problems.c.status, problems.c.updated_at)


def report_text(subject: str, body: str) -> str:
    return f"{subject}\n{body[:INDEXED_BODY_MAX]}"


def _chunk(conn: Connection, after: int) -> list[Any]:
    return list(
        conn.execute(REPORTS.where(issues.c.id > after).order_by(issues.c.id).limit(LOAD_CHUNK)).all()
    )


class ProblemSearch:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.index = ProblemIndex()
        self._since: datetime | None = None
        self._seen: dict[int, datetime] = {}  # issue id → the version indexed (skips re-reads in the overlap)
        self._checked_at = 0.0
        self._lock = asyncio.Lock()
        self._loader: asyncio.Task[None] | None = None

    async def _load_all(self) -> None:
        started = time.perf_counter()
        last_id = 0
        newest: datetime | None = None
        while True:
            rows = await self.database.transaction(partial(_chunk, after=last_id))
            for n, row in enumerate(rows, 1):
                self.index.upsert(
                    row.id, row.problem_id, report_text(row.subject, row.body), is_open=row.status == "open"
                )
                self._seen[row.id] = row.updated_at
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                newest = row.updated_at if newest is None or row.updated_at > newest else newest
            if len(rows) < LOAD_CHUNK:
                break
            last_id = rows[-1].id
        self._since = newest
        log.info(
            "similar-problem index loaded",
            extra={"reports": len(self.index), "seconds": round(time.perf_counter() - started, 2)},
        )

    def _changes(self, conn: Connection, since: datetime) -> tuple[list[object], list[object]]:
        reports = conn.execute(REPORTS.where(issues.c.updated_at >= since)).all()
        states = conn.execute(PROBLEM_STATES.where(problems.c.updated_at >= since)).all()
        return list(reports), list(states)

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._since is None and not len(self.index):
                await self._load_all()
                self._checked_at = now
                return
            if not force and now - self._checked_at < REFRESH_SECONDS:
                return
            self._checked_at = now
            since = (self._since or datetime.min) - OVERLAP if self._since else None
            if since is None:
                await self._load_all()
                return
            reports, states = await self.database.transaction(lambda conn: self._changes(conn, since))
            newest = self._since
            for row in reports:
                if self._seen.get(row.id) == row.updated_at:  # type: ignore[attr-defined]
                    continue
                self._seen[row.id] = row.updated_at  # type: ignore[attr-defined]
                self.index.upsert(
                    row.id,  # type: ignore[attr-defined]
                    row.problem_id,  # type: ignore[attr-defined]
                    report_text(row.subject, row.body),  # type: ignore[attr-defined]
                    is_open=row.status == "open",  # type: ignore[attr-defined]
                )
                newest = max(newest, row.updated_at) if newest else row.updated_at  # type: ignore[attr-defined]
            for state in states:
                self.index.set_problem_open(state.id, state.status == "open")  # type: ignore[attr-defined]
                newest = max(newest, state.updated_at) if newest else state.updated_at  # type: ignore[attr-defined]
            self._since = newest

    def start_loading(self) -> None:
        """Load the index in the background at start-up, so the first lookup does not wait for it."""
        self._loader = asyncio.get_running_loop().create_task(self.refresh(), name="similar-problem index")

    async def similar(self, subject: str, body: str, *, exclude_problem: int, limit: int = 3) -> list[Match]:
        # Reports arriving a moment apart must see each other: look for changes every time.
        await self.refresh(force=True)
        return self.index.similar(report_text(subject, body), limit=limit, exclude_problem=exclude_problem)

    async def search(
        self,
        query: str,
        *,
        limit: int = 10,
        open_only: bool = False,
        prefix: bool = False,
        exclude_problem: int | None = None,
    ) -> list[Match]:
        await self.refresh()
        return self.index.search(
            query, limit=limit, open_only=open_only, prefix=prefix, exclude_problem=exclude_problem
        )
