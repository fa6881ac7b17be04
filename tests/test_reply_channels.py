"""The reply channels (integrations/replies) against a real SMTP server and the contract-checked fakes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from integrations.replies import (
    Delivered,
    OutboundReply,
    ReplyOutcomeUnknown,
    ReplyRejected,
    ReplyUnavailable,
    SmtpChannel,
    WebhookChannel,
    build_reply_channels,
)
from integrations.replies.email import message_id_for
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


async def test_missing_or_invalid_address_is_rejected(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)
    with pytest.raises(ReplyRejected):
        await channel.send(email_reply(to_email=None))
    with pytest.raises(ReplyRejected):
        await channel.send(email_reply(to_email="not an address"))
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
    channel = smtp_channel(smtp_server, timeout=0.5)
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
