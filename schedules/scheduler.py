"""The clock: APScheduler 3 (AsyncIOScheduler) in the configured time zone, active in one process only.

`serve` runs it for a single-process install; `worker` runs it when `serve` runs in several processes.
On PostgreSQL any number of processes may start it, but only the one holding a session-level advisory
lock runs jobs; the others keep trying, so one takes over within `LEADER_POLL_SECONDS` when the leader
goes away (its lock is released with its connection). On SQLite there is one process by design.

Jobs are thin and idempotent, and record what they sent (`bot.services.runs.once`): a restart, a
second process or a late start never sends twice. A job whose time passed while no process ran it
still runs, once, within `MISFIRE_GRACE_SECONDS` (APScheduler's misfire grace, with coalescing).
Every job is built by `guarded_job`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import metrics
from bot.services.runs import MISFIRE_GRACE_SECONDS
from db.session import Database, DatabaseUnavailable

log = logging.getLogger(__name__)


# An arbitrary 64-bit key naming "the Supportbridge scheduler" among advisory locks on the database.
ADVISORY_LOCK_KEY = 0x5B_5C_4E_D0_1E
LEADER_POLL_SECONDS = 15.0


def guarded_job(
    name: str, run: Callable[[], Awaitable[Any]], wake: Callable[[], None]
) -> Callable[[], Awaitable[None]]:
    """A job that logs and skips a round while the database is down, and wakes the outbox when `run`
    enqueued something (a true or non-empty result)."""

    async def job() -> None:
        try:
            result = await run()
        except DatabaseUnavailable:
            metrics.JOB_RUNS.labels(job=name, outcome="skipped").inc()
            log.warning("scheduled job skipped: database unavailable", extra={"job": name})
            return
        except Exception:
            metrics.JOB_RUNS.labels(job=name, outcome="error").inc()
            raise
        metrics.JOB_RUNS.labels(job=name, outcome="enqueued" if result else "ok").inc()
        if result:
            log.info("scheduled job enqueued work", extra={"job": name})
            wake()

    job.__name__ = name  # APScheduler's job id
    return job


def _measure_event(event: JobSubmissionEvent | JobExecutionEvent) -> None:
    """A missed run, or how late a run started after its scheduled time (job ids are our names)."""
    if event.code == EVENT_JOB_MISSED:
        metrics.JOB_MISSES.labels(job=event.job_id).inc()
        return
    if isinstance(event, JobSubmissionEvent):
        for scheduled in event.scheduled_run_times:
            lag = (datetime.now(UTC) - scheduled).total_seconds()
            metrics.JOB_LAG.labels(job=event.job_id).observe(max(lag, 0.0))


class Scheduler:
    def __init__(
        self, database: Database, timezone: Any, *, poll_seconds: float = LEADER_POLL_SECONDS
    ) -> None:
        self.database = database
        self.poll_seconds = poll_seconds
        self.scheduler = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={"misfire_grace_time": MISFIRE_GRACE_SECONDS, "coalesce": True, "max_instances": 1},
        )
        self.scheduler.add_listener(_measure_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED)
        self._jobs: list[tuple[Callable[[], Awaitable[Any]], dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock_connection: AsyncConnection | None = None
        self.is_leader = False

    def add_job(self, func: Callable[[], Awaitable[Any]], trigger: str, **trigger_args: Any) -> None:
        """Register a job (APScheduler trigger arguments); it runs only while this process leads."""
        self._jobs.append((func, {"trigger": trigger, **trigger_args}))

    async def _try_lead(self) -> bool:
        if self.database.dialect != "postgresql":
            return True
        connection = await self.database.engine.connect()
        try:
            taken = (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            ).scalar()
            await connection.commit()  # the lock is the session's, not the transaction's
        except Exception:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._lock_connection = connection
        return True

    async def _still_leading(self) -> bool:
        if self._lock_connection is None:
            return self.database.dialect != "postgresql"
        try:
            await self._lock_connection.execute(text("SELECT 1"))
            await self._lock_connection.commit()
            return True
        except Exception:
            log.warning("scheduler lost its database connection: stepping down")
            with contextlib.suppress(Exception):
                await self._lock_connection.invalidate()  # never back into the pool holding the lock
                await self._lock_connection.close()
            self._lock_connection = None
            return False

    def _start_jobs(self) -> None:
        for func, spec in self._jobs:
            self.scheduler.add_job(func, replace_existing=True, id=getattr(func, "__name__", None), **spec)
        if not self.scheduler.running:
            self.scheduler.start()
        else:
            self.scheduler.resume()

    def _stop_jobs(self) -> None:
        if self.scheduler.running:
            self.scheduler.remove_all_jobs()
            self.scheduler.pause()

    async def run_forever(self) -> None:
        while True:
            try:
                if self.is_leader and not await self._still_leading():
                    self.is_leader = False
                    self._stop_jobs()
                if not self.is_leader and await self._try_lead():
                    self.is_leader = True
                    log.info("this process runs the scheduled jobs")
                    self._start_jobs()
            except Exception:
                log.warning("scheduler could not check its leadership; will retry", exc_info=True)
            await asyncio.sleep(self.poll_seconds)

    def start(self) -> None:
        if self._jobs and self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._lock_connection is not None:
            # The connection goes back to a pool, not away: give the lock up explicitly.
            with contextlib.suppress(Exception):
                await self._lock_connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await self._lock_connection.commit()
            with contextlib.suppress(Exception):
                await self._lock_connection.invalidate()
                await self._lock_connection.close()
            self._lock_connection = None
        self.is_leader = False
