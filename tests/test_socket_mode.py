"""Slack over Socket Mode, end to end: the real app, with SLACK_APP_TOKEN and no signing secret, against
the fake Web API (apps.connections.open checked against the contract) and a fake Socket Mode server
that speaks Slack's documented protocol (sandbox/fakes/socket_mode.py)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import metrics
from bot.ids import Action
from bot.socket_mode import SocketModeRefused
from db.models import Issue
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from sandbox.fakes.socket_mode import FakeSocketMode, attach
from tests.harness import Stack, add_channels, control, make_issue_payload, running_app, shown

AGENT = "U0000000002"
CUSTOMER = "U0000000003"
APP_TOKEN = "xapp-1-A0FAKE-1-0123456789abcdef"

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture(autouse=True)
def people(slack: FakeSlack) -> None:
    assert (slack.add_user("agent"), slack.add_user("customer")) == (AGENT, CUSTOMER)


@pytest.fixture
async def socket_mode(slack: FakeSlack) -> AsyncIterator[FakeSocketMode]:
    fake = FakeSocketMode()
    await fake.start()
    attach(slack, fake, APP_TOKEN)
    try:
        yield fake
        fake.assert_no_violations()
        assert fake.refused_tickets == []  # every URL was used once
    finally:
        await fake.close()


def socket_settings(**overrides: Any) -> dict[str, Any]:
    # No signing secret at all: Socket Mode does not need one.
    return {
        "slack_signing_secret": None,
        "slack_app_token": APP_TOKEN,
        "socket_mode_ping_interval": 0.5,
        **overrides,
    }


@pytest.fixture
async def stack(database_url: str, slack: FakeSlack, socket_mode: FakeSocketMode) -> AsyncIterator[Stack]:
    async with running_app(
        database_url, slack, add_channels(slack), settings_overrides=socket_settings()
    ) as running:
        await socket_mode.wait_connected(1)
        yield running


def event_envelope(stack: Stack, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The Events API wrapper, exactly what /slack/events would have received."""
    return {
        "token": "legacy-verification-token",
        "team_id": stack.slack.team_id,
        "api_app_id": stack.slack.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": stack.slack.team_id, "user_id": stack.slack.bot_user_id, "is_bot": True}
        ],
    }


def reaction(stack: Stack, ts: str) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": AGENT,
        "reaction": "ticket",
        "item": {"type": "message", "channel": stack.channels["feedback"], "ts": ts},
        "item_user": CUSTOMER,
        "event_ts": stack.slack.next_ts(),
    }


async def issue_count(stack: Stack) -> int:
    async with stack.runtime.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Issue)) or 0)


async def react_and_wait(stack: Stack, socket_mode: FakeSocketMode, text: str, cards: int) -> None:
    ts = stack.slack.post_message_in(stack.channels["feedback"], text, user=CUSTOMER)
    envelope_id = await socket_mode.send("events_api", event_envelope(stack, reaction(stack, ts)))
    assert await socket_mode.ack_of(envelope_id) == {"envelope_id": envelope_id}
    await stack.wait_for_cards(stack.channels["default"], cards)


async def test_a_reaction_over_socket_mode_logs_a_report_and_posts_its_card(
    stack: Stack, socket_mode: FakeSocketMode
) -> None:
    await react_and_wait(stack, socket_mode, "Checkout page is blank on Safari", cards=1)
    card = stack.slack.messages(stack.channels["default"])[0]
    assert "Checkout page is blank on Safari" in str(card["blocks"])
    assert await issue_count(stack) == 1
    # The connection was opened with the app-level token, through the contract-checked fake Web API.
    assert len(stack.slack.calls_to("apps.connections.open")) == 1
    # Nothing comes in unsigned over HTTP: /slack/events refuses in Socket Mode.
    refused = await stack.http.post(stack.url("/slack/events"), data=b"{}")
    assert refused.status == 404 and "Socket Mode" in (await refused.json())["error"]
    health = await stack.http.get(stack.url("/healthz"))
    assert health.status == 200


async def test_a_resent_envelope_with_the_same_event_id_is_processed_once(
    stack: Stack, socket_mode: FakeSocketMode
) -> None:
    ts = stack.slack.post_message_in(stack.channels["feedback"], "Export never finishes", user=CUSTOMER)
    body = event_envelope(stack, reaction(stack, ts), event_id="Ev0SOCKET01")
    first = await socket_mode.send("events_api", body)
    # Slack re-sends with a new envelope id (and may pick another connection, or another process).
    again = await socket_mode.send("events_api", body, retry_attempt=1, retry_reason="timeout")
    assert (await socket_mode.ack_of(first))["envelope_id"] == first
    assert (await socket_mode.ack_of(again))["envelope_id"] == again
    await stack.wait_for_cards(stack.channels["default"], 1)
    await stack.slack.wait_for(lambda: stack.slack.ephemerals(stack.channels["feedback"], AGENT))
    await asyncio.sleep(0.3)
    assert await issue_count(stack) == 1
    assert len(stack.slack.messages(stack.channels["default"])) == 1


async def test_a_slash_command_is_acked_with_its_response_payload(
    stack: Stack, socket_mode: FakeSocketMode
) -> None:
    envelope_id = await socket_mode.send(
        "slash_commands",
        {
            "token": "legacy-verification-token",
            "team_id": stack.slack.team_id,
            "team_domain": "fake",
            "channel_id": stack.channels["feedback"],
            "channel_name": "support",
            "user_id": AGENT,
            "user_name": "agent",
            "command": "/support",
            "text": "help",
            "api_app_id": stack.slack.app_id,
            "response_url": "https://hooks.slack.com/commands/T0/1/abc",
            "trigger_id": stack.slack.new_trigger_id(),
        },
    )
    ack = await socket_mode.ack_of(envelope_id)
    assert ack["envelope_id"] == envelope_id
    assert "/support report" in ack["payload"]["text"]


async def test_a_button_click_over_socket_mode_claims_the_issue(
    stack: Stack, socket_mode: FakeSocketMode
) -> None:
    # The intake route is still served over HTTP, signed as before.
    response = await stack.webhook(make_issue_payload())
    issue_id = (await response.json())["id"]
    recorded = await stack.wait_for_recorded_card(issue_id)
    card = stack.slack.message(recorded.channel, recorded.ts)
    block, element = control(card, Action.CLAIM)
    envelope_id = await socket_mode.send(
        "interactive",
        {
            "type": "block_actions",
            "team": {"id": stack.slack.team_id, "domain": "fake"},
            "api_app_id": stack.slack.app_id,
            "token": "legacy-verification-token",
            "user": {"id": AGENT},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "message", "channel_id": card["channel"], "message_ts": card["ts"]},
            "channel": {"id": card["channel"]},
            "message": {"ts": card["ts"]},
            "actions": [
                {
                    "action_id": Action.CLAIM,
                    "block_id": block.get("block_id") or "sl4ck",
                    "type": element["type"],
                    "value": element["value"],
                    "action_ts": "1700000000.000001",
                }
            ],
            "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        },
    )
    assert await socket_mode.ack_of(envelope_id) == {"envelope_id": envelope_id}
    await stack.slack.wait_for(lambda: f"<@{AGENT}>" in shown(stack, card), message="the claim on the card")


async def test_after_disconnect_refresh_requested_the_app_reconnects_and_keeps_working(
    stack: Stack, socket_mode: FakeSocketMode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.socket_mode")
    await socket_mode.disconnect("refresh_requested")
    await socket_mode.wait_connected(2)
    await react_and_wait(stack, socket_mode, "Login loops forever", cards=1)
    assert len(stack.slack.calls_to("apps.connections.open")) == 2
    said = [r for r in caplog.records if getattr(r, "reason", None) == "refresh_requested"]
    assert said and "reconnecting" in said[0].getMessage()


def socket_metric(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"supportbridge_socket_mode_{name}") or 0.0


async def test_the_connection_and_each_reconnect_are_counted(
    database_url: str, slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    reconnects = socket_metric("reconnects_total")
    async with running_app(
        database_url, slack, add_channels(slack), settings_overrides=socket_settings()
    ) as stack:
        await socket_mode.wait_connected(1)
        assert socket_metric("connections") == 1
        assert socket_metric("reconnects_total") == reconnects  # the first connection is no reconnect
        await socket_mode.disconnect("refresh_requested")
        await socket_mode.wait_connected(2)
        await react_and_wait(stack, socket_mode, "Login loops forever", cards=1)
        assert socket_metric("reconnects_total") == reconnects + 1
        assert socket_metric("connections") == 1  # the old connection was counted down, the new one up
    assert socket_metric("connections") == 0


async def test_link_disabled_is_logged_as_socket_mode_turned_off(
    stack: Stack, socket_mode: FakeSocketMode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.socket_mode")
    await socket_mode.disconnect("link_disabled")
    record = await socket_mode.wait_for(
        lambda: next((r for r in caplog.records if getattr(r, "reason", None) == "link_disabled"), None),
        message="the link_disabled log line",
    )
    assert record.levelno == logging.ERROR and "Socket Mode was turned off" in record.getMessage()


async def test_a_dropped_socket_is_opened_again(stack: Stack, socket_mode: FakeSocketMode) -> None:
    await socket_mode.drop()
    await socket_mode.wait_connected(2)
    await react_and_wait(stack, socket_mode, "Invoices show the wrong currency", cards=1)
    assert socket_metric("connections") == 1  # the dropped one counted down once, the new one up


async def test_a_silent_socket_is_noticed_by_its_pings_and_opened_again(
    stack: Stack, socket_mode: FakeSocketMode
) -> None:
    silent = socket_mode.go_silent()
    await socket_mode.wait_connected(2)
    assert silent.pings >= 1  # it was the unanswered pings that gave it away
    await react_and_wait(stack, socket_mode, "Search returns nothing", cards=1)


async def test_an_invalid_app_token_fails_start_up_clearly(
    database_url: str, slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    with pytest.raises(SocketModeRefused, match="SLACK_APP_TOKEN is not valid"):
        async with running_app(
            database_url,
            slack,
            add_channels(slack),
            settings_overrides=socket_settings(slack_app_token="xapp-1-A0FAKE-1-revoked000000000"),
        ):
            raise AssertionError("the app started with a refused app token")
    assert socket_mode.sockets == []
