"""Background loops are started again when they die, loudly, and not when they are asked to stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot import supervisor
from bot.supervisor import Supervised


async def test_a_loop_that_dies_is_restarted_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervisor, "RESTART_DELAY_SECONDS", 0.2)
    runs = 0
    stop = asyncio.Event()

    async def run() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise KeyError("a bug the loop did not catch")
        await stop.wait()

    loop = Supervised("test-loop", run)
    loop.start()
    await asyncio.sleep(0.05)
    # Dead, restart pending: meant to run (readyz checks it), not alive (readyz says "not running").
    assert runs == 1 and loop.running and not loop.alive
    for _ in range(100):
        if runs == 2:
            break
        await asyncio.sleep(0.01)
    assert runs == 2 and loop.alive and loop.restarts == 1
    [died] = [
        r for r in caplog.records if r.getMessage() == "background loop ended unexpectedly; restarting it"
    ]
    assert died.levelno == logging.ERROR and died.exc_info is not None
    assert (died.loop, died.error) == ("test-loop", "KeyError")  # type: ignore[attr-defined]

    stop.set()
    await loop.stop(grace=1)
    await asyncio.sleep(0.05)
    assert runs == 2 and not loop.alive and not loop.running  # asked to stop: not started again


async def test_a_loop_that_will_not_stop_is_cancelled_after_its_grace() -> None:
    async def run() -> None:
        await asyncio.sleep(60)

    loop = Supervised("stubborn", run)
    loop.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(loop.stop(grace=0.05), timeout=2)
    assert not loop.alive and loop.restarts == 0
