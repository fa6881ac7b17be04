"""Replies to customers through the real channels, end to end: a signed Slack click and submission
through the real app, then the real SMTP server (aiosmtpd, with AUTH and STARTTLS) and the real IMAP
server (Dovecot) for e-mail — the customer's answer to our reply comes back into the card's thread —
and the contract-checking fake Intercom and Zendesk, and the signed outbound webhook. SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import Block
from bot.views.report_modal import INPUT
from db.models import customer_replies
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.intercom_api import FakeIntercom
from sandbox.fakes.slack_api import FakeSlack
from sandbox.fakes.webhook_receiver import FakeWebhookReceiver
from sandbox.fakes.zendesk_api import FakeZendesk
from tests.conftest import INTAKE_SECRET
from tests.harness import Stack, add_channels, click, make_issue_payload, running_app
from tests.imap_server import DovecotServer, dovecot_available
from tests.smtp_server import SmtpServer
from tests.test_e2e_email import email_config, mail

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

AGENT = "U0AGENT001"
SUPPORT = "support@example.test"


def submission(view: dict[str, Any], text: str, user: str = AGENT) -> dict[str, Any]:
    submitted = copy.deepcopy(view)
    submitted["state"] = {"values": {Block.REPLY_TEXT: {INPUT: {"type": "plain_text_input", "value": text}}}}
    return {"type": "view_submission", "user": {"id": user}, "view": submitted, "trigger_id": "1.2.3"}


async def reply_from_card(stack: Stack, card: dict[str, Any], text: str, user: str = AGENT) -> None:
    before = len(stack.slack.modals)
    await click(stack, card, "issue.reply", user)
    await stack.slack.wait_for(lambda: len(stack.slack.modals) > before, message="the reply form opens")
    response = await stack.slack_interaction(submission(stack.slack.modals[-1], text, user))
    assert response.status == 200 and await response.text() == ""


async def wait_for_thread(stack: Stack, card: dict[str, Any], words: str, timeout: float = 15) -> None:
    def found() -> bool:
        return any(
            words in m.get("text", "") or words in json.dumps(m["blocks"], ensure_ascii=False)
            for m in stack.slack.thread(card["channel"], card["ts"])[1:]
        )

    await stack.slack.wait_for(found, timeout=timeout, message=f"the thread shows {words!r}")


async def states(stack: Stack) -> list[str]:
    rows = await stack.runtime.database.transaction(
        lambda conn: conn.execute(select(customer_replies.c.state).order_by(customer_replies.c.id)).all()
    )
    return [r.state for r in rows]


@pytest.fixture
async def smtp(tmp_path: Path) -> AsyncIterator[SmtpServer]:
    folder = tmp_path / "smtp"
    folder.mkdir()
    async with SmtpServer(folder) as server:
        yield server


@pytest.mark.skipif(dovecot_available() is not None, reason=str(dovecot_available()))
async def test_an_email_reply_goes_by_smtp_threaded_and_the_answer_comes_back(
    database_url: str, slack: FakeSlack, imap: DovecotServer, smtp: SmtpServer
) -> None:
    first, first_id = mail()
    imap.deliver(first)
    settings = {
        "imap_password": imap.password,
        "smtp_url": smtp.url,
        "smtp_ca_file": smtp.ca_file,
        "support_email_from": f"Acme Support <{SUPPORT}>",
    }
    async with running_app(
        database_url,
        slack,
        add_channels(slack),
        settings_overrides=settings,
        config_overrides=email_config(imap),
    ) as stack:
        card = (await stack.wait_for_cards(stack.channels["default"], 1, timeout=15))[0]
        maya = slack.add_user("maya", real_name="Maya Lindqvist")
        # A colleague's message in the thread is internal: it never reaches the customer.
        event = {
            "type": "message",
            "channel": card["channel"],
            "user": "U0COLLEAGUE",
            "text": "internal: blame the CSV lib",
            "ts": "1700000100.000100",
            "thread_ts": card["ts"],
        }
        assert (await stack.slack_event(event)).status == 200
        await reply_from_card(stack, card, "Hi Dana,\n\nfixed in today's release.", user=maya)
        await wait_for_thread(stack, card, "Sent to Acme-Corp (Dana Smith) by e-mail by <@")
        [message] = smtp.messages
        assert message["To"] == "Dana Smith <dana@acme-corp.test>"
        assert message["Subject"] == "Re: Export to CSV is broken"
        assert message["In-Reply-To"] == first_id and first_id in message["References"]
        assert SUPPORT in message["Reply-To"]
        body = message.get_content()
        assert "fixed in today's release" in body and "blame the CSV lib" not in body
        assert body.rstrip().endswith("Maya Lindqvist") and maya not in body  # her name, never a Slack id
        ours = message["Message-ID"]

        # The customer answers our reply: it joins the same card's thread, and the reply shows it.
        answer, _ = mail("Re: Export to CSV is broken", "Works now, thank you!", in_reply_to=ours)
        imap.deliver(answer)
        await wait_for_thread(stack, card, "Works now, thank you!", timeout=20)
        await wait_for_thread(stack, card, "they answered")
        assert await states(stack) == ["replied"]
        assert len(await stack.wait_for_cards(stack.channels["default"], 1)) == 1  # no second card


async def test_an_intercom_reply_is_an_admin_comment_on_the_conversation(
    database_url: str, slack: FakeSlack
) -> None:
    async with FakeIntercom() as intercom:
        settings = {"intercom_access_token": intercom.token, "intercom_api_url": intercom.url}
        async with running_app(
            database_url, slack, add_channels(slack), settings_overrides=settings
        ) as stack:
            conversation = intercom.seed_conversation("The export times out")
            payload = make_issue_payload(source="intercom", external_id=conversation)
            issue_id = (await (await stack.webhook(payload)).json())["id"]
            recorded = await stack.wait_for_recorded_card(issue_id)
            card = stack.slack.message(recorded.channel, recorded.ts)
            await reply_from_card(stack, card, "We shipped a fix <https://status.example.test|here>.")
            await wait_for_thread(stack, card, ":incoming_envelope: Sent to Acme (Dana Smith) on Intercom by")
            replies = [body for method, path, body in intercom.calls if path.endswith("/reply")]
            assert len(replies) == 1
            assert replies[0]["type"] == "admin" and replies[0]["message_type"] == "comment"
            assert "here (https://status.example.test)" in replies[0]["body"]
            assert await states(stack) == ["sent"]
        assert not intercom.rejections, intercom.rejections


async def test_a_zendesk_reply_is_a_public_comment_and_a_closed_ticket_shows_why(
    database_url: str, slack: FakeSlack
) -> None:
    async with FakeZendesk() as zendesk:
        settings = {
            "zendesk_subdomain": "acme",
            "zendesk_email": zendesk.email,
            "zendesk_api_token": zendesk.api_token,
            "zendesk_api_url": zendesk.url,
        }
        async with running_app(
            database_url, slack, add_channels(slack), settings_overrides=settings
        ) as stack:
            open_ticket = zendesk.seed_ticket("Export times out")
            closed = zendesk.seed_ticket("Login loops", status="closed")
            cards = []
            for ticket in (open_ticket, closed):
                payload = make_issue_payload(source="zendesk", external_id=ticket, subject=f"Ticket {ticket}")
                issue_id = (await (await stack.webhook(payload)).json())["id"]
                recorded = await stack.wait_for_recorded_card(issue_id)
                cards.append(stack.slack.message(recorded.channel, recorded.ts))
            await reply_from_card(stack, cards[0], "Fixed, sorry for the wait.")
            await wait_for_thread(
                stack, cards[0], ":incoming_envelope: Sent to Acme (Dana Smith) on Zendesk by"
            )
            assert [c["body"] for c in zendesk.public_comments(open_ticket)][
                -1
            ] == "Fixed, sorry for the wait."
            await reply_from_card(stack, cards[1], "Fixed too.")
            await wait_for_thread(stack, cards[1], "Not sent to")
            assert "reply.retry" in json.dumps(
                stack.slack.thread(cards[1]["channel"], cards[1]["ts"])[-1]["blocks"]
            )
            assert sorted(await states(stack)) == ["failed", "sent"]


async def test_a_webhook_source_gets_a_signed_post_at_its_notify_url(
    database_url: str, slack: FakeSlack
) -> None:
    async with FakeWebhookReceiver(INTAKE_SECRET) as receiver:
        config = {"replies": {"webhooks": {"webform": {"notify_url": receiver.url}}}}
        async with running_app(database_url, slack, add_channels(slack), config_overrides=config) as stack:
            payload = make_issue_payload()
            issue_id = (await (await stack.webhook(payload)).json())["id"]
            recorded = await stack.wait_for_recorded_card(issue_id)
            card = stack.slack.message(recorded.channel, recorded.ts)
            await reply_from_card(stack, card, "Thanks, on it.")
            await wait_for_thread(stack, card, "Sent to Acme (Dana Smith)")
            [delivery] = receiver.deliveries
            assert delivery["external_id"] == payload["external_id"] and delivery["text"] == "Thanks, on it."
