"""The database being away: every inbound request that cannot be stored answers 503 so its sender
retries, /readyz says so, and /healthz still answers (the process is alive)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.ids import Block
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, add_channels, make_issue_payload, running_app

# A PostgreSQL URL whose port has nothing listening: connecting fails at once, like a server that is down.
DOWN = "postgresql+asyncpg://postgres@127.0.0.1:9/supportbridge"

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with FakeSlack() as slack:
        slack.add_user("agent")
        async with running_app(DOWN, slack, add_channels(slack)) as running:
            yield running
        slack.assert_no_violations()


async def test_webhooks_answer_503_with_retry_after(stack: Stack) -> None:
    response = await stack.webhook(make_issue_payload())
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert "nothing was stored" in (await response.json())["error"]


async def test_slack_reaction_answers_503_so_slack_retries(stack: Stack) -> None:
    channel = stack.channels["feedback"]
    ts = stack.slack.post_message_in(channel, "broken", user="U0000000002")
    response = await stack.slack_event(
        {
            "type": "reaction_added",
            "user": "U0000000002",
            "reaction": "ticket",
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": ts,
        }
    )
    assert response.status == 503


async def test_report_form_stays_open_with_an_error(stack: Stack) -> None:
    view = {
        "id": "V0000000001",
        "callback_id": "issue.report",
        "private_metadata": '{"v":1}',
        "type": "modal",
        "blocks": [],
        "state": {
            "values": {
                Block.REPORT_SUBJECT: {"value": {"type": "plain_text_input", "value": "Broken"}},
                Block.REPORT_CUSTOMER_NAME: {"value": {"type": "plain_text_input", "value": "Ann"}},
            }
        },
    }
    response = await stack.slack_interaction(
        {"type": "view_submission", "user": {"id": "U0000000002"}, "view": view}
    )
    body = await response.json()
    assert body["response_action"] == "errors"
    assert "database unavailable" in body["errors"][Block.REPORT_SUBJECT]


async def test_readiness_fails_and_health_still_answers(stack: Stack) -> None:
    ready = await stack.http.get(stack.url("/readyz"))
    assert ready.status == 503
    assert (await ready.json())["checks"]["database"] == "unavailable"
    assert (await stack.http.get(stack.url("/healthz"))).status == 200
