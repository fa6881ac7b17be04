"""Customers' answers through the helpdesks end to end: really signed Zendesk and Intercom webhooks
through the real app, the answer in the card's thread of the contract-checking fake Slack, once.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.services.customer_answers import CUSTOMER_ANSWER
from db.models import IssueEvent
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from tests.harness import Stack, settled

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

FIXTURES = Path(__file__).parent / "fixtures"
HOSTILE = "<!channel> see <https://evil.example/login|your bank>"


def fixture(vendor: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / vendor / f"{name}.json").read_text())


def now_unix() -> int:
    return int(datetime.now(UTC).timestamp())


def intercom_body(name: str, **changes: Any) -> bytes:
    payload = fixture("intercom", name)
    payload["created_at"] = now_unix()  # inside the replay window
    payload.update(changes)
    return json.dumps(payload).encode()


def intercom_reply(notification: str, body_html: str, author: dict[str, Any] | None = None) -> bytes:
    payload = fixture("intercom", "conversation_user_replied")
    payload["id"] = notification
    payload["created_at"] = now_unix()
    [part] = payload["data"]["item"]["conversation_parts"]["conversation_parts"]
    part["body"] = body_html
    if author is not None:
        part["author"] = author
    return json.dumps(payload).encode()


def zendesk_comment(
    event_id: str, ticket: str, body: str, *, is_staff: bool = False, is_public: bool = True
) -> bytes:
    payload = fixture("zendesk", "ticket_comment_added_event")
    payload["id"] = event_id
    payload["detail"]["id"] = ticket
    comment = payload["event"]["comment"]
    comment.update(body=body, is_public=is_public)
    comment["author"]["is_staff"] = is_staff
    return json.dumps(payload).encode()


async def answers_stored(stack: Stack) -> int:
    async with stack.runtime.database.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(IssueEvent).where(IssueEvent.kind == CUSTOMER_ANSWER)
        )
    return int(count or 0)


async def test_an_intercom_reply_joins_the_cards_thread_once_and_an_admins_reply_never(stack: Stack) -> None:
    created = await stack.intercom(intercom_body("conversation_user_created"))
    assert created.status == 202, await created.text()
    issue_id = (await created.json())["id"]
    channel = stack.channels["default"]
    [card] = await stack.wait_for_cards(channel, 1)

    reply = intercom_reply("notif_reply_1", "<p>Still broken:</p><p>" + HOSTILE.replace("<", "&lt;") + "</p>")
    answered = await stack.intercom(reply)
    assert (answered.status, await answered.json()) == (200, {"id": issue_id})
    await stack.slack.wait_for(
        lambda: len(stack.slack.thread(channel, card["ts"])) > 1, 10.0, message="the answer in the thread"
    )
    note = stack.slack.thread(channel, card["ts"])[-1]
    [section] = note["blocks"]
    assert section["text"]["text"] == (
        "💬 *Sam Okafor* answered by Intercom:\n"
        ">Still broken:\n>\n"
        ">&lt;!channel&gt; see &lt;https://evil.example/login|your bank&gt;"
    )
    assert "<!channel>" not in note["text"] and "<https://evil" not in json.dumps(note)

    again = await stack.intercom(reply)  # Intercom's retry of the same notification
    assert (again.status, await again.json()) == (200, {"id": issue_id})
    admin = {"type": "admin", "id": "814860", "name": "Support", "email": "support@acme.test"}
    ours = await stack.intercom(
        intercom_body(
            "conversation_user_replied",
            id="notif_admin_1",
            topic="conversation.admin.replied",
        )
    )
    assert ours.status == 200 and "ignored" in await ours.json()
    admin_part = await stack.intercom(intercom_reply("notif_reply_2", "<p>We are on it</p>", author=admin))
    assert admin_part.status == 200 and "ignored" in await admin_part.json()

    await settled(stack)
    assert len(stack.slack.thread(channel, card["ts"])) == 2
    assert len(stack.slack.messages(channel)) == 1
    assert await answers_stored(stack) == 1


async def test_a_zendesk_public_comment_by_the_customer_joins_the_thread(stack: Stack) -> None:
    created = await stack.zendesk((FIXTURES / "zendesk" / "trigger_ticket.json").read_bytes())
    assert created.status == 202, await created.text()
    issue_id = (await created.json())["id"]
    card = await stack.wait_for_recorded_card(issue_id)  # urgent: routed to its own channel
    channel = card.channel

    comment = zendesk_comment("evt-1", "48214", f"Here is more:\n{HOSTILE}\x07\n" + "x" * 2000)
    answered = await stack.zendesk(comment)
    assert (answered.status, await answered.json()) == (200, {"id": issue_id})
    await stack.slack.wait_for(
        lambda: len(stack.slack.thread(channel, card.ts)) > 1, 10.0, message="the answer in the thread"
    )
    text = stack.slack.thread(channel, card.ts)[-1]["blocks"][0]["text"]["text"]
    assert text.startswith(
        "💬 *Globex Corporation* (Dana Whitfield) answered by Zendesk:\n>Here is more:\n"
        ">&lt;!channel&gt; see &lt;https://evil.example/login|your bank&gt;\n>xxx"
    )
    assert "\x07" not in text and text.endswith("x…") and len(text) < 1700

    assert (await stack.zendesk(comment)).status == 200  # a re-sent event
    for refused in (
        zendesk_comment("evt-2", "48214", "Agent here", is_staff=True),
        zendesk_comment("evt-3", "48214", "Internal note", is_public=False),
    ):
        response = await stack.zendesk(refused)
        assert response.status == 200 and "ignored" in await response.json()

    await settled(stack)
    assert len(stack.slack.thread(channel, card.ts)) == 2
    assert await answers_stored(stack) == 1


async def test_an_answer_on_a_conversation_that_is_no_issue_is_acknowledged_and_dropped(
    stack: Stack,
) -> None:
    response = await stack.intercom(intercom_reply("notif_orphan", "<p>Hello?</p>"))
    assert (response.status, await response.json()) == (
        200,
        {"ignored": "the conversation is not a customer issue"},
    )
    zendesk = await stack.zendesk(zendesk_comment("evt-orphan", "99999", "Hello?"))
    assert zendesk.status == 200 and "ignored" in await zendesk.json()
    assert await answers_stored(stack) == 0
    assert stack.slack.messages(stack.channels["default"]) == []


async def test_a_malformed_answer_is_400_naming_the_field(stack: Stack) -> None:
    payload = fixture("intercom", "conversation_user_replied")
    payload["created_at"] = now_unix()
    payload["data"]["item"]["conversation_parts"]["conversation_parts"] = "nope"
    response = await stack.intercom(json.dumps(payload).encode())
    assert response.status == 400
    assert (await response.json())["field"] == "data.item.conversation_parts.conversation_parts"
    bad_flag = json.loads(zendesk_comment("evt-bad", "48214", "hi"))
    bad_flag["event"]["comment"]["is_public"] = "yes"
    response = await stack.zendesk(json.dumps(bad_flag).encode())
    assert (response.status, (await response.json())["field"]) == (400, "event.comment.is_public")


async def test_logs_at_info_carry_no_answer_text(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    created = await stack.intercom(intercom_body("conversation_user_created"))
    assert created.status == 202
    private = "my password is hunter2"
    assert (await stack.intercom(intercom_reply("notif_private", f"<p>{private}</p>"))).status == 200
    assert (
        await stack.intercom(
            intercom_reply("notif_nowhere", "<p>x</p>").replace(b"215468730184561", b"215468730100000")
        )
    ).status == 200
    await settled(stack)
    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.getMessage() == "customer answer added to its issue" for r in info)
    assert any(r.getMessage() == "customer answer on a conversation with no issue" for r in caplog.records)
    for record in info:
        assert private not in record.getMessage() + repr(record.__dict__), record.getMessage()
