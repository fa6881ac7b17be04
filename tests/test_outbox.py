"""The outbox on SQLite and PostgreSQL: coalescing, in-flight changes, failures kept, never lost."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.config import Deliveries
from bot.domain.outbox import Ephemeral, Payload, SyncCard
from bot.services import outbox
from db.models import outbox_items
from db.session import Database

FAST = Deliveries(base_backoff_seconds=0.01, max_backoff_seconds=0.02, stuck_after_attempts=2)


async def enqueue(database: Database, payload: Payload, key: str | None = "card:1") -> None:
    await database.transaction(lambda conn: outbox.enqueue_in(conn, payload, dedupe_key=key))


async def rows(database: Database) -> list[Any]:
    return await database.transaction(
        lambda conn: list(conn.execute(select(outbox_items).order_by(outbox_items.c.id)))
    )


async def test_asking_twice_while_pending_makes_one_item(database: Database) -> None:
    await enqueue(database, SyncCard(1))
    await enqueue(database, SyncCard(1))
    assert len(await rows(database)) == 1


async def test_a_change_while_in_flight_runs_the_item_again(database: Database) -> None:
    calls: list[SyncCard] = []
    deliverer = outbox.Deliverer(database, FAST)

    async def handler(payload: SyncCard) -> None:
        calls.append(payload)
        if len(calls) == 1:  # someone changes the issue while its card is being sent
            await enqueue(database, SyncCard(1))

    deliverer.register(SyncCard, handler)
    await enqueue(database, SyncCard(1))
    assert await deliverer.run_once() == 1
    assert [r.status for r in await rows(database)] == ["pending"]
    assert await deliverer.run_once() == 1
    assert len(calls) == 2
    [row] = await rows(database)
    assert (row.status, row.dedupe_key) == ("done", None)
    # Done items release their key: a later change makes a new item.
    await enqueue(database, SyncCard(1))
    assert [r.status for r in await rows(database)] == ["done", "pending"]


async def test_failures_back_off_are_counted_and_keep_the_item(database: Database) -> None:
    deliverer = outbox.Deliverer(database, FAST)
    outcomes = iter([outbox.RetryLater("slack: ratelimited", retry_after=0.0), RuntimeError("bug"), None])

    async def handler(_payload: SyncCard) -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    deliverer.register(SyncCard, handler)
    await enqueue(database, SyncCard(7))
    await deliverer.run_once()
    [row] = await rows(database)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "slack: ratelimited")
    health = await outbox.outbox_health(database, FAST)
    assert (health.pending, health.stuck) == (1, 0)
    await _when_due(deliverer)
    [row] = await rows(database)
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "RuntimeError: bug")
    assert (await outbox.outbox_health(database, FAST)).stuck == 1
    await _when_due(deliverer)
    [row] = await rows(database)
    assert (row.status, row.last_error) == ("done", None)
    assert (await outbox.outbox_health(database, FAST)).pending == 0


async def test_an_item_no_handler_knows_is_kept_not_dropped(database: Database) -> None:
    deliverer = outbox.Deliverer(database, FAST)
    await enqueue(database, SyncCard(1))
    await deliverer.run_once()
    [row] = await rows(database)
    assert row.status == "pending" and "no handler" in row.last_error


async def test_effects_are_recorded_with_completion(database: Database) -> None:
    deliverer = outbox.Deliverer(database, FAST)

    async def handler(_payload: SyncCard) -> outbox.Effects:
        def record(conn: Connection) -> None:
            outbox.enqueue_in(conn, Ephemeral(channel="C1", user="U1", text="recorded"))

        return record

    deliverer.register(SyncCard, handler)
    await enqueue(database, SyncCard(1))
    await deliverer.run_once()
    assert [(r.kind, r.status) for r in await rows(database)] == [
        ("sync_card", "done"),
        ("ephemeral", "pending"),
    ]


async def _when_due(deliverer: outbox.Deliverer) -> None:
    """Run again once the backoff has passed (a few tens of milliseconds with FAST)."""
    for _ in range(100):
        if await deliverer.run_once():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the item never came due again")
