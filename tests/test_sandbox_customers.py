"""The sandbox's customer's side: a reply from a card reaches the fake inbox, the fake Intercom, the fake
Zendesk or the webhook receiver, the page's state shows it there (the Customers panel), and answering as
the customer puts the answer in the card's thread. Every step is the page's own API, so every request
the bot gets is really signed, and the sandbox only ever points a reply channel at its own fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from bot.ids import Action, Block
from bot.settings import Settings
from integrations.replies import build_reply_channels
from sandbox.stack import Sandbox, sandbox_config
from sandbox.workspace import YOU
from tests.sandbox_harness import RunningSandbox, running_sandbox
from tests.test_sandbox_page import intake_form, submitted_card, use


@pytest.fixture
async def sbx(database_url: str) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(database_url) as running:
        yield running


async def reply_from_card(sbx: RunningSandbox, card: dict[str, Any], text: str) -> None:
    """**Reply to customer** on the card, then the modal's **Send**."""
    await use(sbx, card, Action.REPLY)
    slack = sbx.sandbox.slack
    await sbx.wait_for(lambda: slack.modal_stack(YOU.user_id), "the reply form open")
    [view] = (await sbx.state())["modals"]
    values = {Block.REPLY_TEXT: {"value": {"type": "plain_text_input", "value": text}}}
    done = await sbx.api("/sandbox/api/submit", {"as": YOU.user_id, "view_id": view["id"], "values": values})
    assert done == {"ok": True, "status": 200}, done


def thread_says(sbx: RunningSandbox, card: dict[str, Any], words: str) -> bool:
    replies = sbx.sandbox.slack.thread(sbx.default_channel(), card["ts"])[1:]
    return any(words in sbx.shown(m) + m.get("text", "") for m in replies)


async def customers(sbx: RunningSandbox) -> dict[str, Any]:
    return dict((await sbx.state())["customers"])


async def test_an_email_reply_reaches_the_inbox_threaded_and_the_customers_answer_joins_the_thread(
    sbx: RunningSandbox,
) -> None:
    number, card = await submitted_card(sbx, source="email", customer_email="dana@acme.test")
    await reply_from_card(sbx, card, "We found it: <b>fixed</b> tonight.")
    inbox = sbx.sandbox.customers.inbox
    await sbx.wait_for(lambda: inbox.messages, "the reply in the fake inbox")

    [mail] = (await customers(sbx))["inbox"]
    assert mail["to"] == "Dana Smith <dana@acme.test>" and mail["envelope_to"] == ["dana@acme.test"]
    assert mail["from"] == "Acme Support <support@sandbox.example>"
    assert mail["subject"] == "Re: Invoices export times out"
    assert mail["text"].startswith("We found it: <b>fixed</b> tonight.")
    # Threaded to the customer's own e-mail: the report's Message-ID.
    assert mail["in_reply_to"].endswith("@acme.test>") and mail["in_reply_to"] in mail["references"]

    answered = await sbx.api(
        f"/sandbox/api/customers/email/{mail['number']}/answer", {"text": "Thanks!\x07 It works now."}
    )
    assert answered == {"ok": True, "kind": "reply", "id": number}
    await sbx.wait_for(lambda: thread_says(sbx, card, "Thanks! It works now."), "the answer in the thread")
    assert (await customers(sbx))["inbox"][0]["answers"] == ["Thanks! It works now."]


async def test_helpdesk_replies_land_on_the_conversation_and_ticket_and_answers_come_back_signed(
    sbx: RunningSandbox,
) -> None:
    _, intercom_card = await submitted_card(sbx, source="intercom", subject="Export hangs in Intercom")
    _, zendesk_card = await submitted_card(
        sbx, source="zendesk", subject="VAT number rejected", body="Our Irish VAT number is refused."
    )
    await reply_from_card(sbx, intercom_card, "Hi Dana, a fix is rolling out.")
    await reply_from_card(sbx, zendesk_card, "Hi Dana, the VAT check is fixed.")

    side = sbx.sandbox.customers

    def replied() -> bool:
        [conversation] = side.intercom.conversations.values()
        [ticket] = side.zendesk.tickets.values()
        return len(conversation.parts) == 2 and len(ticket.comments) == 2

    await sbx.wait_for(replied, "the replies in the fake Intercom and Zendesk")
    shown = await customers(sbx)
    [conversation] = shown["intercom"]
    assert conversation["customer"] == {"name": "Dana Smith", "email": "dana@acme.test"}
    assert [(p["author_type"], p["ours"], p["text"]) for p in conversation["parts"]] == [
        ("user", False, "Exporting more than 1000 invoices never finishes."),
        ("admin", True, "Hi Dana, a fix is rolling out."),
    ]
    [ticket] = shown["zendesk"]
    assert ticket["subject"] == "VAT number rejected"
    assert [(c["ours"], c["public"], c["text"]) for c in ticket["comments"]] == [
        (False, True, "Our Irish VAT number is refused."),
        (True, True, "Hi Dana, the VAT check is fixed."),
    ]

    answer = await sbx.api(
        f"/sandbox/api/customers/intercom/{conversation['id']}/answer", {"text": "Still <!channel> hangs"}
    )
    assert answer["ok"] and answer["status"] == 200
    answer = await sbx.api(f"/sandbox/api/customers/zendesk/{ticket['id']}/answer", {"text": "Works, thanks"})
    assert answer["ok"] and answer["status"] == 200
    escaped = "Still &lt;!channel&gt; hangs"  # the customer's text, never a mention
    await sbx.wait_for(lambda: thread_says(sbx, intercom_card, escaped), "the Intercom answer")
    await sbx.wait_for(lambda: thread_says(sbx, zendesk_card, "Works, thanks"), "the Zendesk answer")
    shown = await customers(sbx)
    assert shown["intercom"][0]["parts"][-1]["text"] == "Still <!channel> hangs"
    assert shown["zendesk"][0]["comments"][-1]["text"] == "Works, thanks"
    assert side.intercom.violations == side.intercom.response_violations == side.zendesk.violations == []


async def test_a_web_form_reply_reaches_the_webhook_receiver(sbx: RunningSandbox) -> None:
    _, card = await submitted_card(sbx, source="webform")
    await reply_from_card(sbx, card, "Thanks for the report, it is fixed.")
    receiver = sbx.sandbox.customers.webhooks
    await sbx.wait_for(lambda: receiver.deliveries, "the reply webhook delivered")
    [delivery] = (await customers(sbx))["webhooks"]["deliveries"]
    assert delivery["text"] == "Thanks for the report, it is fixed."
    assert receiver.refused == []


async def test_answering_as_the_customer_refuses_what_a_customer_could_not_send(sbx: RunningSandbox) -> None:
    await sbx.api("/sandbox/api/customers/email/99/answer", {"text": "hello"}, status=400)
    await sbx.api("/sandbox/api/customers/intercom/nope/answer", {"text": "hello"}, status=400)
    await sbx.api("/sandbox/api/customers/fax/1/answer", {"text": "hello"}, status=400)
    await submitted_card(sbx, source="zendesk")
    [ticket] = sbx.sandbox.customers.zendesk.tickets
    refused = await sbx.api(f"/sandbox/api/customers/zendesk/{ticket}/answer", {"text": " \x00 "}, status=400)
    assert "write what the customer answers" in refused["detail"]
    no_address = intake_form(source="email", customer_email="")
    refused = await sbx.api("/sandbox/api/intake", no_address, status=400)
    assert "e-mail address" in refused["detail"]


def _loopback(url: str) -> bool:
    return urlsplit(url).hostname == "127.0.0.1"


async def test_the_sandbox_never_points_a_reply_channel_off_loopback(tmp_path: Any) -> None:
    """Whatever the environment and configuration say: real SMTP, helpdesk tokens, a real notify_url."""
    config_file = tmp_path / "mine.yml"
    config_file.write_text(
        "channels: {default: C0SBX000001}\n"
        "replies:\n  webhooks:\n    partner: {notify_url: 'https://partner.example.com/replies'}\n"
    )
    base = Settings(  # type: ignore[call-arg]
        _env_file=None,
        supportbridge_config=config_file,
        smtp_url=SecretStr("smtps://bot:real-password@smtp.example.com"),
        support_email_from="support@example.com",
        intercom_access_token=SecretStr("real-intercom-token"),
        intercom_api_url="https://api.intercom.io",
        zendesk_subdomain="acme",
        zendesk_email="agent@example.com",
        zendesk_api_token=SecretStr("real-zendesk-token"),
    )
    sandbox = await Sandbox.start(base, sandbox_config(base), database_url="sqlite+aiosqlite:///unused.db")
    try:
        settings, config = sandbox.settings, sandbox.config
        assert settings.smtp_url is not None and _loopback(settings.smtp_url.get_secret_value())
        assert _loopback(settings.intercom_api_url) and settings.zendesk_api_url is not None
        assert _loopback(settings.zendesk_api_url) and settings.zendesk_subdomain is None
        assert {s: h.notify_url for s, h in config.replies.webhooks.items()} == {
            "partner": sandbox.customers.webhooks.url,
            "webform": sandbox.customers.webhooks.url,
        }
        channels = build_reply_channels(settings, config)
        assert set(channels) == {"email", "intercom", "zendesk", "webhook"}
        for url in sandbox.customers.loopback_urls():
            assert _loopback(url)
        for channel in channels.values():
            await channel.close()
    finally:
        await sandbox.close()
