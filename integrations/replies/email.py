"""Replies by e-mail: plain text over SMTP (aiosmtplib), threaded into the customer's conversation.

``SMTP_URL`` is ``smtp://user:pass@host:port`` (STARTTLS whenever the server offers it; port 587 by
default) or ``smtps://user:pass@host:port`` (implicit TLS, port 465 by default). A password is never
sent over a connection that is not encrypted: a server offering no STARTTLS is refused. The message is sent
from ``SUPPORT_EMAIL_FROM`` with its Reply-To at the support mailbox, so the customer's answer lands
where the mailbox intake reads it.

Exactly once: the Message-ID is derived from the reply's key, so a resend after an unknown outcome
carries the same Message-ID and mail clients show one message. SMTP offers no way to ask whether a
message was accepted, so ``find_sent`` answers None (the caller sends again, safely, for that reason).
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

from .types import Delivered, OutboundReply, ReplyOutcomeUnknown, ReplyRejected, ReplyUnavailable, bounded

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
_MAX_SUBJECT = 250
_MAX_NAME = 120
_MAX_REFERENCES = 20  # the newest ones: a long thread's References header stays readable


class SmtpSettingsError(ValueError):
    """SMTP_URL or SUPPORT_EMAIL_FROM cannot be used; the message names which (never the password)."""


def message_id_for(key: str, from_address: str) -> str:
    """The Message-ID (without <>) of the reply with this key: the same on every attempt."""
    domain = from_address.rpartition("@")[2]
    return f"sb-reply-{hashlib.sha256(key.encode()).hexdigest()[:24]}@{domain}"


def _one_line(value: str, limit: int) -> str:
    # Header values: no CR/LF or other control characters (header injection), bounded.
    cleaned = "".join(ch if ch.isprintable() else " " for ch in value)
    return bounded(cleaned, limit)


def _msg_id(value: str) -> str | None:
    value = value.strip().strip("<>").strip()
    if (
        not value
        or any(ch.isspace() or ch in "<>" or not ch.isprintable() for ch in value)
        or len(value) > 250
    ):
        return None
    return f"<{value}>"


def ascii_address(address: str) -> str:
    """The address as an SMTP envelope takes it without SMTPUTF8: an internationalised domain in its
    ASCII (IDNA) form. A non-ASCII mailbox name cannot be sent that way and is refused."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ReplyRejected("the customer's e-mail address is not valid")
    if not local.isascii():
        raise ReplyRejected("the customer's e-mail address has a non-ASCII mailbox name (SMTPUTF8)")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ReplyRejected("the customer's e-mail address has an invalid domain") from exc
    return f"{local}@{domain}"


class SmtpChannel:
    name = "email"

    def __init__(
        self,
        smtp_url: str,
        from_address: str,
        *,
        reply_to: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        ca_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SmtpSettingsError(
                "SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465"
            )
        if "@" not in from_address:
            raise SmtpSettingsError("SUPPORT_EMAIL_FROM must be an e-mail address")
        self._implicit_tls = parts.scheme == "smtps"
        self._host = parts.hostname
        try:
            port = parts.port
        except ValueError as exc:
            raise SmtpSettingsError("SMTP_URL has an invalid port") from exc
        self._port = port or (465 if self._implicit_tls else 587)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        # "Acme Support <support@acme.com>" or a bare address: the name shows in the customer's mail client.
        self._from_name, self._from = parseaddr(from_address.strip())
        if "@" not in self._from:
            raise SmtpSettingsError("SUPPORT_EMAIL_FROM must be an e-mail address")
        self._reply_to = parseaddr((reply_to or self._from).strip())[1] or self._from
        if tls_context is None:
            tls_context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._tls = tls_context
        self._timeout = timeout

    def build_message(self, reply: OutboundReply) -> EmailMessage:
        if not reply.to_email or "@" not in reply.to_email:
            raise ReplyRejected("no customer e-mail address to reply to")
        recipient = ascii_address(reply.to_email)
        message = EmailMessage()
        try:
            message["From"] = Address(
                display_name=_one_line(self._from_name, _MAX_NAME), addr_spec=self._from
            )
            message["To"] = Address(
                display_name=_one_line(reply.to_name, _MAX_NAME) if reply.to_name else "",
                addr_spec=recipient,
            )
            message["Reply-To"] = Address(addr_spec=self._reply_to)
        except (ValueError, IndexError, MessageError) as exc:  # email's parser: an address it cannot take
            raise ReplyRejected("the customer's e-mail address is not valid") from exc
        message["Subject"] = _one_line(reply.subject, _MAX_SUBJECT)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{message_id_for(reply.key, self._from)}>"
        parent = _msg_id(reply.in_reply_to) if reply.in_reply_to else None
        references = [ref for ref in (_msg_id(r) for r in reply.references) if ref]
        if parent:
            message["In-Reply-To"] = parent
            if parent not in references:
                references.append(parent)
        if references:
            message["References"] = " ".join(references[-_MAX_REFERENCES:])
        # Mail servers and clients must not treat it as a bulk or auto-reply (RFC 3834 is for robots).
        message["Auto-Submitted"] = "no"
        body = reply.text
        if reply.sender_name:
            body = f"{body.rstrip()}\n\n-- \n{_one_line(reply.sender_name, _MAX_NAME)}\n"
        message.set_content(body)
        return message

    async def send(self, reply: OutboundReply) -> Delivered:
        message = self.build_message(reply)
        message_id = message_id_for(reply.key, self._from)
        recipient = ascii_address(reply.to_email or "")
        smtp = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._implicit_tls,
            # None: upgrade with STARTTLS whenever the server offers it.
            start_tls=None if not self._implicit_tls else False,
            tls_context=self._tls,
            timeout=self._timeout,
        )
        try:
            try:
                await smtp.connect()
                if self._username is not None:
                    # aiosmtplib would log in over a plain connection when the server offers no
                    # STARTTLS (or someone in between strips it): never send the password in clear.
                    if not self._implicit_tls and smtp.get_transport_info("sslcontext") is None:
                        raise ReplyRejected(
                            "the SMTP server offers no STARTTLS: the password is not sent in clear "
                            "(use smtps:// or a server with STARTTLS)"
                        )
                    await smtp.login(self._username, self._password or "")
            except aiosmtplib.SMTPAuthenticationError as exc:
                raise ReplyRejected(f"the SMTP server refused the login ({exc.code})") from exc
            except aiosmtplib.SMTPResponseException as exc:
                raise _by_code(exc.code, "the SMTP server refused the connection") from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise ReplyUnavailable(f"SMTP server unreachable ({type(exc).__name__})") from exc
            try:
                await smtp.mail(self._from)
                await smtp.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as exc:
                raise _by_code(exc.code, f"the mail server refused the recipient ({exc.code})") from exc
            except aiosmtplib.SMTPResponseException as exc:
                raise _by_code(exc.code, f"the mail server refused the sender ({exc.code})") from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise ReplyUnavailable(f"SMTP failed before sending ({type(exc).__name__})") from exc
            try:
                await smtp.data(message.as_bytes())
            except aiosmtplib.SMTPResponseException as exc:
                raise _by_code(exc.code, f"the mail server refused the message ({exc.code})") from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                # The message went out; whether the server kept it is not known.
                raise ReplyOutcomeUnknown(
                    f"SMTP gave no answer to the message ({type(exc).__name__})"
                ) from exc
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
        log.info("reply e-mail sent", extra={"reply_key": reply.key, "message_id": message_id})
        return Delivered(external_id=message_id)

    async def find_sent(self, reply: OutboundReply) -> Delivered | None:
        # SMTP cannot be asked whether a message was accepted. A resend is safe: it carries the same
        # Message-ID (derived from the key), which mail clients and many servers use to drop duplicates.
        return None

    async def close(self) -> None:
        return None  # one connection per reply, closed after it


def _by_code(code: int, reason: str) -> ReplyRejected | ReplyUnavailable:
    if 400 <= code < 500:
        return ReplyUnavailable(reason)
    return ReplyRejected(reason)
