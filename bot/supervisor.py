"""Background loops that keep running: the delivery loop and the mailbox.

A `Supervised` loop is an asyncio task that is started again, logged at ERROR, whenever it ends without
having been asked to stop (a bug that escaped the loop's own error handling, a cancellation from
outside); a short pause between restarts keeps a loop that dies at once from spinning. `alive` is what
`/readyz` reports for the delivery loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 1.0


class Supervised:
    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        self.restarts = 0

    @property
    def running(self) -> bool:
        """`start` was called and `stop` was not (the loop is meant to be running, even between a
        death and its restart, when `alive` is false)."""
        return self._started and not self._stopping

    @property
    def alive(self) -> bool:
        """The loop's task is running now (false before `start`, after `stop`, and between a death
        and its restart)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._started, self._stopping = True, False
            self._task = asyncio.create_task(self._run(), name=self.name)
            self._task.add_done_callback(self._restart_if_died)

    def _restart_if_died(self, task: asyncio.Task[None]) -> None:
        if self._stopping or task is not self._task:
            return
        error = None if task.cancelled() else task.exception()
        self.restarts += 1
        log.error(
            "background loop ended unexpectedly; restarting it",
            exc_info=error,
            extra={"loop": self.name, "error": type(error).__name__ if error else "cancelled"},
        )
        self._task = None
        asyncio.get_running_loop().call_later(RESTART_DELAY_SECONDS, self._restart)

    def _restart(self) -> None:
        if not self._stopping:
            self.start()

    async def stop(self, grace: float) -> None:
        """Wait up to `grace` seconds for the loop to end (the caller has told it to), then cancel it."""
        self._stopping = True
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, timeout=grace)
            except TimeoutError:
                task.cancel()
