"""One writer thread for SQLite, with group commit.

SQLite takes one writer at a time. Rather than have every request queue for the lock, hop to
aiosqlite's thread for each cursor call and pay a commit each, transactions are handed to one thread
of our own that runs a batch of them — whatever queued up meanwhile — inside a single
BEGIN IMMEDIATE … COMMIT, then resolves every caller at once. Nobody is answered before the commit
that holds their write. If any transaction in a batch fails, the batch is rolled back and each is run
again alone, so one conflict (a duplicate intake, say) fails only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

MAX_BATCH = 64


@dataclass
class _Job:
    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()


def _resolve(jobs: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in jobs:
        if job.future.done():  # the caller went away (cancelled)
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


class SQLiteWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
                self._thread.start()

    async def run(self, work: Callable[[Connection], Any]) -> Any:
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Job(work, future, loop))
        return await future

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Job] = [first]
            stop_after = False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop_after = True
                    break
                batch.append(job)
            self._execute(batch)
            if stop_after:
                return

    def _execute(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, bool, Any]]
        if len(batch) == 1:
            outcomes = [self._alone(batch[0])]
        else:
            try:
                with self.engine.begin() as conn:
                    outcomes = [(job, True, job.work(conn)) for job in batch]
            except Exception:
                # Rolled back together: run each alone so only the failing one fails.
                outcomes = [self._alone(job) for job in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, resolved in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, resolved)
            except RuntimeError:
                log.debug("event loop closed before a SQLite result was delivered")

    def _alone(self, job: _Job) -> tuple[_Job, bool, Any]:
        try:
            with self.engine.begin() as conn:
                return (job, True, job.work(conn))
        except Exception as exc:
            return (job, False, exc)
