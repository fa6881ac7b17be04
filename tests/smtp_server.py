"""A real SMTP server for tests (aiosmtpd) on a loopback port, with AUTH required and TLS.

    async with SmtpServer(tmp_path) as smtp:                     # STARTTLS (required before AUTH)
        channel = SmtpChannel(smtp.url, "support@example.com", ca_file=smtp.ca_file)
        await channel.send(reply)
        message = smtp.messages[-1]                              # an email.message.EmailMessage
        assert message["In-Reply-To"] == "<abc@example.com>"

``SmtpServer(tmp_path, implicit_tls=True)`` speaks TLS from the first byte (``smtps://``);
``starttls=False`` offers no TLS at all (AUTH over a plain connection, as a downgraded server would).
The server's certificate comes from a throwaway CA made with ``trustme``; ``ca_file`` is that CA's PEM (what
``SMTP_CA_FILE`` names), ``client_context()`` an ``ssl.SSLContext`` trusting it.

Knobs, for failures: ``refuse(address, code=550)`` answers RCPT TO for that address with ``code``
(450/451: temporary); ``data_delay`` holds the answer to DATA that many seconds *after* the message
was stored, as a server that is slow to acknowledge would (a client's timeout then leaves the outcome
unknown although the message was received); ``stop()`` then connections are refused.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
import ssl
import warnings
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        code = self.server.refused.get(address.lower())
        if code is not None:
            return f"{code} {'Mailbox unavailable' if code >= 500 else 'Try again later'}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.server.received.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "raw": raw,
                "message": message,
                "tls": session.ssl is not None or self.server.implicit_tls,
                "login": session.login_data,
            }
        )
        if self.server.data_delay:
            await asyncio.sleep(self.server.data_delay)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(
        self,
        base_dir: Path,
        *,
        implicit_tls: bool = False,
        starttls: bool = True,
        user: str = "bot@example.com",
    ) -> None:
        self.implicit_tls = implicit_tls
        self.starttls = starttls and not implicit_tls
        self.user = user
        self.password = "p@ss:" + secrets.token_urlsafe(12)  # characters a URL must escape
        self.received: list[dict[str, Any]] = []
        self.refused: dict[str, int] = {}
        self.data_delay: float = 0.0
        self.logins: list[str] = []
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = base_dir / "smtp-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self._server: asyncio.Server | None = None
        self.port = 0

    # -- what a test reads

    @property
    def messages(self) -> list[EmailMessage]:
        return [entry["message"] for entry in self.received]

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@127.0.0.1:{self.port}"

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    def refuse(self, address: str, code: int = 550) -> None:
        self.refused[address.lower()] = code

    # -- lifecycle

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login.decode() == self.user and auth_data.password.decode() == self.password
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": over implicit TLS it is all TLS.
            warnings.simplefilter("ignore", UserWarning)
            return self._make_protocol()

    def _make_protocol(self) -> SMTP:
        return SMTP(
            _Handler(self),
            hostname="smtp.test",
            tls_context=self._server_context() if self.starttls else None,
            require_starttls=self.starttls,
            auth_required=True,
            # Over implicit TLS the whole connection is encrypted; aiosmtpd only tracks STARTTLS.
            auth_require_tls=self.starttls,
            authenticator=self._authenticate,
            auth_exclude_mechanism=[],
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> SmtpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            "127.0.0.1",
            self.port,
            ssl=self._server_context() if self.implicit_tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SmtpServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


@pytest.fixture
async def smtp_server(tmp_path: Path) -> AsyncIterator[SmtpServer]:
    """A running STARTTLS server; import this fixture into a test module (``from tests.smtp_server import
    smtp_server``) to use it."""
    async with SmtpServer(tmp_path) as server:
        yield server
