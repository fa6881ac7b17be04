"""A card appears once in Slack whatever happens between Slack's answer and its record.

Each test breaks delivery at one point — the answer lost on the wire, the process gone before it
recorded the post, a second worker while the first waits on Slack, the loop itself dying — and checks
what the channel shows: one card, recorded once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from bot.services import outbox
from bot.services.cards import CARD
from db.models import outbox_items, slack_messages, utcnow
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, add_channels, make_issue_payload, running_app


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing catches it."""


def card_rows(conn: Connection) -> list[tuple[str, int]]:
    return [
        (r.status, r.attempts)
        for r in conn.execute(select(outbox_items).where(outbox_items.c.kind == "sync_card"))
    ]


def recorded_cards(conn: Connection) -> list[str]:
    return [r.ts for r in conn.execute(select(slack_messages.c.ts).where(slack_messages.c.purpose == CARD))]


async def test_a_card_whose_answer_was_lost_is_found_and_adopted_not_posted_twice(stack: Stack) -> None:
    channel = stack.channels["default"]
    stack.slack.fail("chat.postMessage", answer_lost=True)
    response = await stack.webhook(make_issue_payload())
    issue_id = (await response.json())["id"]

    recorded = await stack.wait_for_recorded_card(issue_id)

    messages = stack.slack.messages(channel)
    assert len(messages) == 1
    assert messages[0]["ts"] == recorded.ts
    assert messages[0]["metadata"] == {
        "event_type": "supportbridge_card",
        "event_payload": {"issue_id": issue_id},
    }
    # One post (its answer lost), one look in the channel, and the found card brought up to date.
    calls = [
        c[0]
        for c in stack.slack.calls
        if c[0] in {"chat.postMessage", "conversations.history", "chat.update"}
    ]
    assert calls == ["chat.postMessage", "conversations.history", "chat.update"]
    stack.slack.assert_no_violations()


async def test_a_crash_between_the_post_and_its_record_does_not_post_again(
    database_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels = add_channels(slack)
    async with running_app(database_url, slack, channels, run_deliveries=False) as stack:
        deliverer = stack.runtime.deliverer
        await stack.webhook(make_issue_payload())

        async def die(self: outbox.Deliverer, outcomes: list[outbox.Outcome]) -> None:
            raise Crash

        with monkeypatch.context() as patched:
            patched.setattr(outbox.Deliverer, "_settle", die)
            with pytest.raises(Crash):
                await deliverer.run_once()
        assert len(slack.messages(channels["default"])) == 1
        database = stack.runtime.database
        assert await database.transaction(recorded_cards) == []
        # Until its lease runs out, nobody else takes the item.
        assert await deliverer.run_once() == 0

        def lease_ran_out(conn: Connection) -> None:
            conn.execute(update(outbox_items).values(locked_until=utcnow() - timedelta(seconds=1)))

        await database.transaction(lease_ran_out)
        assert await deliverer.run_once() == 1

        messages = slack.messages(channels["default"])
        assert len(messages) == 1
        assert await database.transaction(recorded_cards) == [messages[0]["ts"]]
        assert await database.transaction(card_rows) == [("done", 0)]
        assert [c[0] for c in slack.calls].count("chat.postMessage") == 1
    slack.assert_no_violations()


async def test_a_second_worker_does_not_take_a_card_the_first_is_still_sending(
    database_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels = add_channels(slack)
    short_lease = {
        "deliveries": {"lease_seconds": 0.6, "base_backoff_seconds": 0.05, "max_backoff_seconds": 0.3}
    }
    async with running_app(
        database_url, slack, channels, run_deliveries=False, config_overrides=short_lease
    ) as stack:
        first = stack.runtime.deliverer
        second = outbox.Deliverer(stack.runtime.database, stack.config.deliveries, first.handlers)
        await stack.webhook(make_issue_payload())
        slack.fail("chat.postMessage", slow=1.5)  # Slack (or its Retry-After) keeps the first waiting

        sending = asyncio.create_task(first.run_once())
        await asyncio.sleep(1.0)  # well past the lease the first worker took
        assert await second.run_once() == 0
        assert await sending == 1

    assert len(slack.messages(channels["default"])) == 1
    slack.assert_no_violations()


async def test_the_delivery_loop_is_restarted_when_it_dies(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    deliverer = stack.runtime.deliverer
    real_run_once = outbox.Deliverer.run_once
    died = False

    async def dies_once(self: outbox.Deliverer) -> int:
        nonlocal died
        if not died:
            died = True
            raise Crash
        return await real_run_once(self)

    monkeypatch.setattr(outbox.Deliverer, "run_once", dies_once)
    deliverer.wake()
    await stack.slack.wait_for(lambda: died, timeout=5, message="the loop died")
    await stack.webhook(make_issue_payload())
    await stack.wait_for_cards(stack.channels["default"], 1)
    assert deliverer.alive
    restarts = [
        r for r in caplog.records if r.getMessage() == "background loop ended unexpectedly; restarting it"
    ]
    assert len(restarts) == 1 and restarts[0].levelno == logging.ERROR


async def test_an_error_in_the_loop_itself_is_logged_and_the_loop_carries_on(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_claim = outbox.Deliverer.claim
    failed = 0

    async def fails_twice(self: outbox.Deliverer) -> Any:
        nonlocal failed
        if failed < 2:
            failed += 1
            raise RuntimeError("a bug in the loop")
        return await real_claim(self)

    monkeypatch.setattr(outbox.Deliverer, "claim", fails_twice)
    await stack.webhook(make_issue_payload())
    await stack.wait_for_cards(stack.channels["default"], 1, timeout=15)
    assert stack.runtime.deliverer.alive
    assert [r.getMessage() for r in caplog.records].count("delivery loop failed; carrying on") == 2
