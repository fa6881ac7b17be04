"""The reply channels (integrations/replies) against a real SMTP server and the contract-checked fakes."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from integrations.replies import (
    Delivered,
    IntercomChannel,
    OutboundReply,
    ReplyOutcomeUnknown,
    ReplyRejected,
    ReplyUnavailable,
    SmtpChannel,
    WebhookChannel,
    ZendeskChannel,
    build_reply_channels,
)
from integrations.replies.email import message_id_for
from sandbox.fakes.contracts import intercom_contract_missing_reason
from sandbox.fakes.intercom_api import FakeIntercom
from sandbox.fakes.webhook_receiver import FakeWebhookReceiver
from sandbox.fakes.zendesk_api import FakeZendesk
from tests.conftest import INTAKE_SECRET
from tests.smtp_server import SmtpServer, smtp_server

__all__ = ["smtp_server"]  # the fixture, imported for the tests below

FROM = "support@help.example.com"


def email_reply(**overrides: Any) -> OutboundReply:
    values: dict[str, Any] = {
        "key": "reply:42",
        "text": "Hi Ana,\n\nthe export is fixed in 2.4.1.\n\nThanks for your patience!",
        "subject": "Re: Invoice export times out",
        "to_email": "ana@customer.example",
        "to_name": "Ana Lima",
        "in_reply_to": "CAF1234@mail.customer.example",
        "references": ("first@mail.customer.example", "CAF1234@mail.customer.example"),
        "sender_name": "Sam from Support",
    }
    values.update(overrides)
    return OutboundReply(**values)


def smtp_channel(server: SmtpServer, **kwargs: Any) -> SmtpChannel:
    return SmtpChannel(server.url, FROM, ca_file=server.ca_file, **kwargs)


# --------------------------------------------------------------------------- e-mail


async def test_email_is_sent_over_starttls_with_auth_and_threading_headers(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server, reply_to="inbox@help.example.com")

    delivered = await channel.send(email_reply())

    assert len(smtp_server.received) == 1
    entry = smtp_server.received[0]
    assert entry["tls"] is True and smtp_server.logins  # STARTTLS, then AUTH
    assert entry["rcpt_tos"] == ["ana@customer.example"]
    message = entry["message"]
    assert message["From"] == FROM
    assert message["To"] == "Ana Lima <ana@customer.example>"
    assert message["Reply-To"] == "inbox@help.example.com"
    assert message["Subject"] == "Re: Invoice export times out"
    assert message["In-Reply-To"] == "<CAF1234@mail.customer.example>"
    assert message["References"] == "<first@mail.customer.example> <CAF1234@mail.customer.example>"
    assert message["Message-ID"] == f"<{delivered.external_id}>"
    assert delivered.external_id.startswith("sb-reply-")
    assert delivered.external_id.endswith("@help.example.com")
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert "the export is fixed in 2.4.1." in body
    assert body.rstrip().endswith("Sam from Support")


async def test_the_same_key_sends_the_same_message_id(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)

    first = await channel.send(email_reply())
    again = await channel.send(email_reply())
    other = await channel.send(email_reply(key="reply:43"))

    ids = [m["Message-ID"] for m in smtp_server.messages]
    assert ids[0] == ids[1] != ids[2]
    assert first == again == Delivered(message_id_for("reply:42", FROM))
    assert other.external_id != first.external_id
    # With nothing better known, the customer's answer comes back to the From address.
    assert smtp_server.messages[0]["Reply-To"] == FROM
    # SMTP cannot be asked: the caller resends, and the stable Message-ID makes that safe.
    assert await channel.find_sent(email_reply()) is None


async def test_email_without_threading_has_no_threading_headers(smtp_server: SmtpServer) -> None:
    await smtp_channel(smtp_server).send(email_reply(in_reply_to=None, references=(), to_name=None))

    message = smtp_server.messages[0]
    assert message["In-Reply-To"] is None and message["References"] is None
    assert message["To"] == "ana@customer.example"


async def test_hostile_header_values_cannot_inject_headers(smtp_server: SmtpServer) -> None:
    await smtp_channel(smtp_server).send(
        email_reply(
            subject="Re: hi\r\nBcc: victim@evil.example",
            to_name="Ana\r\nBcc: victim@evil.example",
            in_reply_to="bad id\r\nBcc: x@evil.example",
        )
    )

    message = smtp_server.messages[0]
    assert message["Bcc"] is None
    assert smtp_server.received[0]["rcpt_tos"] == ["ana@customer.example"]
    assert "\n" not in message["Subject"]
    assert message["In-Reply-To"] is None  # not a Message-ID: left out rather than mangled


async def test_email_over_implicit_tls(tmp_path: Path) -> None:
    async with SmtpServer(tmp_path, implicit_tls=True) as server:
        assert server.url.startswith("smtps://")
        channel = SmtpChannel(server.url, FROM, tls_context=server.client_context())
        await channel.send(email_reply())
        assert server.received[0]["tls"] is True
        assert server.messages[0]["Subject"] == "Re: Invoice export times out"


async def test_no_password_is_sent_to_a_server_without_starttls(tmp_path: Path) -> None:
    async with SmtpServer(tmp_path, starttls=False) as server:
        channel = SmtpChannel(server.url, FROM)
        with pytest.raises(ReplyRejected) as refused:
            await channel.send(email_reply())
        assert "STARTTLS" in refused.value.reason
        assert server.logins == [] and server.received == []


async def test_an_internationalised_domain_is_sent_in_its_ascii_form(smtp_server: SmtpServer) -> None:
    await smtp_channel(smtp_server).send(email_reply(to_email="ana@exämple.com"))
    assert smtp_server.received[0]["rcpt_tos"] == ["ana@xn--exmple-cua.com"]
    assert smtp_server.messages[0]["To"] == "Ana Lima <ana@xn--exmple-cua.com>"


async def test_refused_recipient_is_rejected_and_a_busy_one_unavailable(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)
    smtp_server.refuse("gone@customer.example", 550)
    smtp_server.refuse("full@customer.example", 452)

    with pytest.raises(ReplyRejected) as rejected:
        await channel.send(email_reply(to_email="gone@customer.example"))
    with pytest.raises(ReplyUnavailable) as unavailable:
        await channel.send(email_reply(to_email="full@customer.example"))

    assert "550" in rejected.value.reason
    assert "452" in unavailable.value.reason
    assert smtp_server.received == []


@pytest.mark.parametrize(
    "address",
    [None, "not an address", "bad address@x.com", "<a@b.example>", "a@@b.example", "a@b\r\nBcc: x@y.example",
     "ü@exämple.com", "ana@bad..example", "ana@" + "x" * 70 + ".example"],
)  # fmt: skip
async def test_missing_or_invalid_address_is_rejected(smtp_server: SmtpServer, address: str | None) -> None:
    channel = smtp_channel(smtp_server)
    with pytest.raises(ReplyRejected):
        await channel.send(email_reply(to_email=address))
    assert smtp_server.received == []


async def test_wrong_password_is_rejected_and_never_shown(smtp_server: SmtpServer, caplog: Any) -> None:
    wrong = smtp_server.url.replace(smtp_server.url.split(":")[2].split("@")[0], "wrong-password")
    channel = SmtpChannel(wrong, FROM, ca_file=smtp_server.ca_file)

    with caplog.at_level(logging.DEBUG), pytest.raises(ReplyRejected) as refused:
        await channel.send(email_reply())

    assert "login" in refused.value.reason
    assert "wrong-password" not in refused.value.reason and "wrong-password" not in caplog.text


async def test_untrusted_certificate_is_unavailable_not_sent(smtp_server: SmtpServer) -> None:
    channel = SmtpChannel(smtp_server.url, FROM)  # the system's CAs: the test CA is not among them

    with pytest.raises(ReplyUnavailable):
        await channel.send(email_reply())
    assert smtp_server.received == []


async def test_server_down_is_unavailable(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)
    await smtp_server.stop()

    with pytest.raises(ReplyUnavailable) as down:
        await channel.send(email_reply())
    assert "unreachable" in down.value.reason


async def test_timeout_after_data_is_an_unknown_outcome(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server, timeout=1.0)
    smtp_server.data_delay = 2.0

    with pytest.raises(ReplyOutcomeUnknown):
        await channel.send(email_reply())

    # It did arrive: a resend carries the same Message-ID, so the customer's client shows one message.
    smtp_server.data_delay = 0.0
    await channel.send(email_reply())
    assert [m["Message-ID"] for m in smtp_server.messages] == [smtp_server.messages[0]["Message-ID"]] * 2


# --------------------------------------------------------------------------- which channels


async def test_only_configured_channels_are_built(make_settings: Any, make_config: Any) -> None:
    bare = build_reply_channels(make_settings(intake_secret=None), make_config())
    assert bare == {}

    settings = make_settings(
        smtp_url="smtp://bot:secret@127.0.0.1:2525",
        support_email_from=FROM,
        intercom_access_token="intercom-token-0123456789",
        zendesk_subdomain="acme",
        zendesk_email="bot@acme.example",
        zendesk_api_token="zendesk-token-0123456789",
    )
    config = make_config(
        email={"host": "imap.example.com", "user": "inbox@help.example.com"},
        replies={"webhooks": {"Webform": {"notify_url": "https://forms.example.com/replies"}}},
    )
    channels = build_reply_channels(settings, config)
    try:
        assert sorted(channels) == ["email", "intercom", "webhook", "zendesk"]
        assert {name: channel.name for name, channel in channels.items()} == {n: n for n in channels}
        webhook = channels["webhook"]
        assert isinstance(webhook, WebhookChannel)
        assert webhook.can_reply("webform") and not webhook.can_reply("intercom")
        email_channel = channels["email"]
        assert isinstance(email_channel, SmtpChannel)
        # The support mailbox's address is where the customer's answer should land.
        assert email_channel.build_message(email_reply())["Reply-To"] == "inbox@help.example.com"
    finally:
        for channel in channels.values():
            await channel.close()

    # An e-mail channel needs both the URL and the From address.
    assert "email" not in build_reply_channels(make_settings(smtp_url="smtp://h:1"), make_config())


def test_reply_webhook_urls_must_be_https(make_config: Any) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="https"):
        make_config(replies={"webhooks": {"webform": {"notify_url": "http://forms.example.com/replies"}}})
    loopback = make_config(replies={"webhooks": {"webform": {"notify_url": "http://127.0.0.1:9/r"}}})
    assert loopback.replies.webhooks["webform"].notify_url == "http://127.0.0.1:9/r"


# --------------------------------------------------------------------------- shared helpers


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_quiet_logs(caplog: Any, *secrets_and_text: str) -> None:
    """Nothing secret and no customer text in any log record (at INFO or DEBUG), nor in the reasons."""
    logged = caplog.text + " ".join(str(getattr(r, "__dict__", "")) for r in caplog.records)
    for value in secrets_and_text:
        assert value not in logged


REPLY_TEXT = "Hi Ana,\n\nthe export <is> fixed & shipped in 2.4.1."


# --------------------------------------------------------------------------- Intercom


@pytest.fixture
async def intercom() -> AsyncIterator[FakeIntercom]:
    reason = intercom_contract_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    async with FakeIntercom() as fake:
        yield fake
        fake.assert_no_violations()


def intercom_reply(conversation: str, **overrides: Any) -> OutboundReply:
    values: dict[str, Any] = {
        "key": "reply:7",
        "text": REPLY_TEXT,
        "subject": "",
        "conversation_id": conversation,
    }
    values.update(overrides)
    return OutboundReply(**values)


async def test_intercom_reply_is_an_admin_comment(intercom: FakeIntercom, caplog: Any) -> None:
    conversation = intercom.seed_conversation()
    channel = IntercomChannel(intercom.token, api_url=intercom.url)
    try:
        with caplog.at_level(logging.DEBUG):
            first = await channel.send(intercom_reply(conversation))
            second = await channel.send(
                intercom_reply(conversation, key="reply:8", text="And one more thing.")
            )
    finally:
        await channel.close()

    # Customer text is escaped into HTML paragraphs: Intercom reads a comment's body as HTML.
    assert intercom.admin_comments(conversation) == [
        "<p>Hi Ana,</p><p>the export &lt;is&gt; fixed &amp; shipped in 2.4.1.</p>",
        "<p>And one more thing.</p>",
    ]
    parts = intercom.conversations[conversation].parts
    assert first.external_id == parts[-2]["id"] and second.external_id == parts[-1]["id"]
    assert len(intercom.calls_to("GET", "/me")) == 1  # the admin id is asked once
    reply_call = intercom.calls_to("POST", r"/conversations/\d+/reply")[0]
    assert reply_call[2]["admin_id"] == intercom.admin["id"] and reply_call[2]["message_type"] == "comment"
    assert_quiet_logs(caplog, intercom.token, "the export", "one more thing")


async def test_intercom_lost_answer_is_found_and_not_sent_twice(intercom: FakeIntercom) -> None:
    conversation = intercom.seed_conversation()
    channel = IntercomChannel(intercom.token, api_url=intercom.url)
    intercom.fail("POST /conversations/*/reply", answer_lost=True)
    try:
        with pytest.raises(ReplyOutcomeUnknown):
            await channel.send(intercom_reply(conversation))
        found = await channel.find_sent(intercom_reply(conversation))
    finally:
        await channel.close()

    assert found == Delivered(intercom.conversations[conversation].parts[-1]["id"])
    assert len(intercom.admin_comments(conversation)) == 1


async def test_intercom_timeout_is_unknown_then_adopted(intercom: FakeIntercom) -> None:
    conversation = intercom.seed_conversation()
    channel = IntercomChannel(intercom.token, api_url=intercom.url, timeout=1.0)
    await channel.admin_id()
    intercom.fail("POST /conversations/*/reply", slow=1.6)  # past the timeout; Intercom still replies
    try:
        with pytest.raises(ReplyOutcomeUnknown):
            await channel.send(intercom_reply(conversation))
        await intercom.wait_for(lambda: intercom.admin_comments(conversation), timeout=3)
        found = await channel.find_sent(intercom_reply(conversation))
    finally:
        await channel.close()
    assert found is not None and found.external_id == intercom.conversations[conversation].parts[-1]["id"]


async def test_intercom_dropped_before_sending_is_not_found_so_it_is_sent_again(
    intercom: FakeIntercom,
) -> None:
    conversation = intercom.seed_conversation()
    # Earlier replies that must not be mistaken for this one: another teammate's with the same words,
    # and an older one of ours with the same words followed by a different newer one.
    intercom.add_admin_comment(conversation, "<p>Thanks!</p>", admin_id="111")
    intercom.add_admin_comment(conversation, "<p>Thanks!</p>")
    intercom.add_admin_comment(conversation, "<p>Anything else?</p>")
    channel = IntercomChannel(intercom.token, api_url=intercom.url)
    intercom.fail("POST /conversations/*/reply", drop_connection=True)
    reply = intercom_reply(conversation, text="Thanks!")
    try:
        with pytest.raises(ReplyOutcomeUnknown):
            await channel.send(reply)
        assert await channel.find_sent(reply) is None
        delivered = await channel.send(reply)
        assert await channel.find_sent(reply) == delivered
    finally:
        await channel.close()
    assert intercom.admin_comments(conversation)[-1] == "<p>Thanks!</p>"


@pytest.mark.parametrize(
    ("failure", "error", "retry_after"),
    [
        ({"status": 429, "retry_after": 7}, ReplyUnavailable, 7.0),
        ({"status": 500}, ReplyUnavailable, None),
        ({"status": 503, "retry_after": None}, ReplyUnavailable, None),
    ],
)
async def test_intercom_transient_failures(
    intercom: FakeIntercom, failure: dict[str, Any], error: type[Exception], retry_after: float | None
) -> None:
    conversation = intercom.seed_conversation()
    channel = IntercomChannel(intercom.token, api_url=intercom.url)
    intercom.fail("POST /conversations/*/reply", **failure)
    try:
        with pytest.raises(error) as raised:
            await channel.send(intercom_reply(conversation))
    finally:
        await channel.close()
    assert isinstance(raised.value, ReplyUnavailable) and raised.value.retry_after == retry_after
    assert intercom.admin_comments(conversation) == []


async def test_intercom_permanent_failures(intercom: FakeIntercom, caplog: Any) -> None:
    channel = IntercomChannel(intercom.token, api_url=intercom.url)
    wrong_token = IntercomChannel("wrong-intercom-token-000", api_url=intercom.url)
    try:
        with pytest.raises(ReplyRejected) as unknown:
            await channel.send(intercom_reply("424242"))
        with pytest.raises(ReplyRejected) as no_id:
            await channel.send(intercom_reply("not-an-id"))
        with caplog.at_level(logging.DEBUG), pytest.raises(ReplyRejected) as unauthorized:
            await wrong_token.send(intercom_reply(intercom.seed_conversation()))
    finally:
        await channel.close()
        await wrong_token.close()
    assert unknown.value.reason == "Intercom answered 404 (not_found) to the reply"
    assert "conversation id" in no_id.value.reason
    assert "401" in unauthorized.value.reason and "unauthorized" in unauthorized.value.reason
    assert_quiet_logs(caplog, "wrong-intercom-token-000", intercom.token)


async def test_intercom_unreachable_is_unavailable() -> None:
    channel = IntercomChannel("token-0123456789abcdef", api_url=closed_port_url())
    try:
        with pytest.raises(ReplyUnavailable) as down:
            await channel.send(intercom_reply("123"))
    finally:
        await channel.close()
    assert "unreachable" in down.value.reason


# --------------------------------------------------------------------------- Zendesk


@pytest.fixture
async def zendesk() -> AsyncIterator[FakeZendesk]:
    async with FakeZendesk() as fake:
        yield fake
        fake.assert_no_violations()


def zendesk_channel(fake: FakeZendesk, **kwargs: Any) -> ZendeskChannel:
    return ZendeskChannel(fake.url, fake.email, fake.api_token, **kwargs)


async def test_zendesk_reply_is_a_public_comment(zendesk: FakeZendesk, caplog: Any) -> None:
    ticket = zendesk.seed_ticket()
    channel = zendesk_channel(zendesk)
    try:
        with caplog.at_level(logging.DEBUG):
            delivered = await channel.send(intercom_reply(ticket))
    finally:
        await channel.close()

    newest = zendesk.public_comments(ticket)[-1]
    assert newest["body"] == REPLY_TEXT and newest["public"] is True
    assert newest["author_id"] == zendesk.agent["id"]
    assert delivered == Delivered(str(newest["id"]))
    put = zendesk.calls_to("PUT", rf"/api/v2/tickets/{ticket}\.json")[0]
    assert put[2] == {"ticket": {"comment": {"body": REPLY_TEXT, "public": True}}}
    assert_quiet_logs(caplog, zendesk.api_token, "the export")


async def test_zendesk_lost_answer_is_found_and_not_sent_twice(zendesk: FakeZendesk) -> None:
    ticket = zendesk.seed_ticket()
    zendesk.add_comment(ticket, "Thanks!")  # an earlier reply with other words
    channel = zendesk_channel(zendesk)
    zendesk.fail("PUT /api/v2/tickets/*", answer_lost=True)
    try:
        with pytest.raises(ReplyOutcomeUnknown):
            await channel.send(intercom_reply(ticket))
        found = await channel.find_sent(intercom_reply(ticket))
    finally:
        await channel.close()
    comments = zendesk.public_comments(ticket)
    assert [c["body"] for c in comments].count(REPLY_TEXT) == 1
    assert found == Delivered(str(comments[-1]["id"]))


async def test_zendesk_timeout_then_adopted_and_not_found_when_absent(zendesk: FakeZendesk) -> None:
    ticket = zendesk.seed_ticket()
    channel = zendesk_channel(zendesk, timeout=1.0)
    zendesk.fail("PUT /api/v2/tickets/*", slow=1.6)
    try:
        # Nothing of ours yet: not found.
        assert await channel.find_sent(intercom_reply(ticket)) is None
        with pytest.raises(ReplyOutcomeUnknown):
            await channel.send(intercom_reply(ticket))
        await zendesk.wait_for(lambda: len(zendesk.public_comments(ticket)) == 2, timeout=3)
        found = await channel.find_sent(intercom_reply(ticket))
        # A newer comment of ours with other words: the reply cannot be told apart from an old one.
        zendesk.add_comment(ticket, "Closing this now.")
        later = await channel.find_sent(intercom_reply(ticket))
    finally:
        await channel.close()
    assert found is not None and found.external_id == str(zendesk.public_comments(ticket)[1]["id"])
    assert later is None
    assert len(zendesk.calls_to("GET", r"/api/v2/users/me\.json")) == 1


async def test_zendesk_failures(zendesk: FakeZendesk, caplog: Any) -> None:
    ticket = zendesk.seed_ticket()
    closed = zendesk.seed_ticket(status="closed")
    channel = zendesk_channel(zendesk)
    wrong = ZendeskChannel(zendesk.url, zendesk.email, "wrong-zendesk-token-000")
    try:
        zendesk.fail("PUT /api/v2/tickets/*", status=429, retry_after=7)
        with pytest.raises(ReplyUnavailable) as limited:
            await channel.send(intercom_reply(ticket))
        zendesk.fail("PUT /api/v2/tickets/*", status=500)
        with pytest.raises(ReplyUnavailable) as broken:
            await channel.send(intercom_reply(ticket))
        with pytest.raises(ReplyRejected) as gone:
            await channel.send(intercom_reply("999999"))
        with pytest.raises(ReplyRejected) as closed_ticket:
            await channel.send(intercom_reply(closed))
        with caplog.at_level(logging.DEBUG), pytest.raises(ReplyRejected) as unauthorized:
            await wrong.send(intercom_reply(ticket))
        with pytest.raises(ReplyRejected):
            await channel.send(intercom_reply("12/../13"))
    finally:
        await channel.close()
        await wrong.close()
    assert limited.value.retry_after == 7.0 and "429" in limited.value.reason
    assert broken.value.retry_after is None and "500" in broken.value.reason
    assert gone.value.reason == "Zendesk answered 404 (RecordNotFound) to the comment"
    assert "422" in closed_ticket.value.reason
    assert "401" in unauthorized.value.reason
    assert len(zendesk.public_comments(ticket)) == 1  # only the customer's
    assert_quiet_logs(caplog, "wrong-zendesk-token-000", zendesk.api_token)


async def test_zendesk_fake_refuses_a_malformed_update(zendesk: FakeZendesk) -> None:
    ticket = zendesk.seed_ticket()
    credentials = base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
    async with aiohttp.ClientSession() as session:
        bad = await session.put(
            f"{zendesk.url}/api/v2/tickets/{ticket}.json",
            json={"ticket": {"comment": {"text": "x"}}},
            headers={"Authorization": f"Basic {credentials}"},
        )
        assert bad.status == 400
    assert zendesk.violations == ["PUT /api/v2/tickets/" + ticket + ".json: unknown comment fields ['text']"]
    zendesk.violations.clear()


# --------------------------------------------------------------------------- webhook


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver(INTAKE_SECRET) as fake:
        yield fake
        fake.assert_no_violations()


def webhook_reply(**overrides: Any) -> OutboundReply:
    values: dict[str, Any] = {
        "key": "reply:9",
        "text": REPLY_TEXT,
        "subject": "",
        "conversation_id": "form-123",
        "sender_name": "Sam",
        "source": "webform",
    }
    values.update(overrides)
    return OutboundReply(**values)


async def test_webhook_reply_is_signed_and_deduped_by_key(receiver: FakeWebhookReceiver, caplog: Any) -> None:
    channel = WebhookChannel(INTAKE_SECRET, {"WebForm": receiver.url})
    try:
        with caplog.at_level(logging.DEBUG):
            first = await channel.send(webhook_reply())
            again = await channel.send(webhook_reply())  # a resend after an unknown outcome
    finally:
        await channel.close()
    assert first == again == Delivered("reply:9")
    assert receiver.deliveries == [
        {
            "type": "reply",
            "source": "webform",
            "external_id": "form-123",
            "text": REPLY_TEXT,
            "sender": "Sam",
            "key": "reply:9",
        }
    ]
    assert receiver.duplicates == ["reply:9"] and receiver.refused == []
    assert await channel.find_sent(webhook_reply()) is None
    assert_quiet_logs(caplog, INTAKE_SECRET, "the export")


async def test_webhook_failures(receiver: FakeWebhookReceiver) -> None:
    channel = WebhookChannel(INTAKE_SECRET, {"webform": receiver.url}, timeout=1.0)
    wrong_secret = WebhookChannel("whsec_" + "A" * 32, {"webform": receiver.url})
    try:
        assert channel.can_reply("webform") and not channel.can_reply("other") and not channel.can_reply(None)
        with pytest.raises(ReplyRejected):
            await channel.send(webhook_reply(source="other"))
        receiver.answer(410)
        with pytest.raises(ReplyRejected) as gone:
            await channel.send(webhook_reply())
        receiver.answer(500)
        with pytest.raises(ReplyUnavailable):
            await channel.send(webhook_reply())
        receiver.answer(204)
        receiver.fail("POST /replies", slow=1.6)
        with pytest.raises(ReplyOutcomeUnknown):
            await channel.send(webhook_reply())
        with pytest.raises(ReplyRejected) as unsigned:
            await wrong_secret.send(webhook_reply(key="reply:10"))
    finally:
        await channel.close()
        await wrong_secret.close()
    assert "410" in gone.value.reason
    assert "401" in unsigned.value.reason and len(receiver.refused) == 1
    await receiver.wait_for(lambda: receiver.deliveries, timeout=3)  # the slow one did arrive


async def test_webhook_unreachable_is_unavailable() -> None:
    channel = WebhookChannel(INTAKE_SECRET, {"webform": closed_port_url() + "/replies"})
    try:
        with pytest.raises(ReplyUnavailable):
            await channel.send(webhook_reply())
    finally:
        await channel.close()


async def test_intercom_finds_its_reply_in_a_long_conversation(intercom: FakeIntercom) -> None:
    conversation = intercom.seed_conversation()
    for n in range(300):  # an answer of several hundred kilobytes, read in many chunks
        intercom.add_admin_comment(conversation, f"<p>{n}: {'lorem ipsum ' * 80}</p>", admin_id="111")
    channel = IntercomChannel(intercom.token, api_url=intercom.url)
    intercom.fail("POST /conversations/*/reply", answer_lost=True)
    try:
        with pytest.raises(ReplyOutcomeUnknown):
            await channel.send(intercom_reply(conversation))
        found = await channel.find_sent(intercom_reply(conversation))
    finally:
        await channel.close()
    assert found == Delivered(intercom.conversations[conversation].parts[-1]["id"])


async def test_intercom_fake_checks_requests_against_the_contract(intercom: FakeIntercom) -> None:
    conversation = intercom.seed_conversation()
    headers = {"Authorization": f"Bearer {intercom.token}", "Intercom-Version": "2.14"}
    async with aiohttp.ClientSession() as session:
        no_admin = await session.post(
            f"{intercom.url}/conversations/{conversation}/reply",
            json={"message_type": "comment", "type": "admin", "body": "x"},
            headers=headers,
        )
        no_version = await session.get(
            f"{intercom.url}/conversations/{conversation}",
            headers={"Authorization": headers["Authorization"]},
        )
    assert (no_admin.status, no_version.status) == (400, 400)
    assert len(intercom.violations) == 2 and "Intercom-Version" in intercom.violations[1]
    assert intercom.admin_comments(conversation) == []
    intercom.violations.clear()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"smtp_url": "http://user:hunter2-secret@mail.example.com"}, "SMTP_URL must look like"),
        ({"smtp_url": "smtp://user:hunter2-secret@mail.example.com:587"}, "SUPPORT_EMAIL_FROM"),
        ({"zendesk_api_token": "zendesk-token-0123456789"}, "ZENDESK_EMAIL"),
        (
            {"zendesk_api_token": "zendesk-token-0123456789", "zendesk_email": "a@b.example"},
            "ZENDESK_SUBDOMAIN",
        ),
    ],
)
def test_half_configured_reply_channels_stop_the_start(
    make_settings: Any, values: dict[str, Any], message: str
) -> None:
    from bot.settings import SettingsError

    with pytest.raises(SettingsError, match=message) as refused:
        make_settings(**values).check_startup()
    assert "hunter2-secret" not in str(refused.value)


def test_complete_reply_settings_start(make_settings: Any) -> None:
    make_settings(
        smtp_url="smtps://user:pw@mail.example.com",
        support_email_from=FROM,
        zendesk_api_token="zendesk-token-0123456789",
        zendesk_email="agent@acme.example",
        zendesk_subdomain="acme",
    ).check_startup()


async def test_non_ascii_text_survives_every_hop(
    smtp_server: SmtpServer, receiver: FakeWebhookReceiver
) -> None:
    text = "Olá Ana — die Lösung ist da 🎉\n\n¡Gracias!"
    await smtp_channel(smtp_server).send(
        email_reply(
            text=text, subject="Re: Fehler beim Export — Rechnung №5", to_name="Ana Müller", sender_name="Zoë"
        )
    )
    message = smtp_server.messages[0]
    assert message["Subject"] == "Re: Fehler beim Export — Rechnung №5"
    assert message["To"] == "Ana Müller <ana@customer.example>"
    body = message.get_content().replace("\r\n", "\n")  # CRLF on the wire
    assert body.startswith(text) and body.endswith("\n-- \nZoë\n")

    channel = WebhookChannel(INTAKE_SECRET, {"webform": receiver.url})
    try:
        await channel.send(webhook_reply(text=text, sender_name="Zoë"))
    finally:
        await channel.close()
    assert receiver.deliveries[0]["text"] == text and receiver.deliveries[0]["sender"] == "Zoë"
