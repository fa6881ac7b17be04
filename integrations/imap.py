"""Our interface to the support mailbox over IMAP (aioimaplib, asyncio-native).

Only what the intake needs: log in, list the messages not yet processed, fetch one without marking it
read, mark it processed (\\Seen, or moved to a folder), and wait for news — IMAP IDLE where the server
offers it, a plain sleep otherwise. Errors come out as `ImapError` (the caller reconnects with backoff)
or `ImapAuthError` (credentials refused: retrying will not help until they change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from aioimaplib import aioimaplib

log = logging.getLogger(__name__)

# Dovecot, Gmail and others end an idle session after about 30 minutes: re-issue well before that.
IDLE_MAX_SECONDS = 25 * 60
T = TypeVar("T")


class ImapError(Exception):
    """The mailbox could not be reached or answered an error; reconnect and try again."""


class ImapAuthError(ImapError):
    """The server refused the login."""


@dataclass(frozen=True)
class MailboxSettings:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    folder: str = "INBOX"
    processed: str = "mark_seen"  # or "move"
    move_to: str | None = None
    timeout: float = 15.0


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(line for line in response.lines if isinstance(line, bytes))[:200]
        raise ImapError(f"{what} failed: {response.result} {detail.decode('utf-8', 'replace')}")
    return response


class ImapMailbox:
    def __init__(self, settings: MailboxSettings) -> None:
        self.settings = settings
        self._client: aioimaplib.IMAP4 | None = None
        # aioimaplib reports a dropped connection only through this callback; commands sent after it
        # would otherwise wait for their timeout. Every command races it.
        self._lost = asyncio.Event()

    def _connection_lost(self, _exc: Exception | None) -> None:
        self._lost.set()

    @property
    def client(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise ImapError("not connected")
        return self._client

    async def connect(self) -> None:
        s = self.settings
        try:
            self._client = aioimaplib.IMAP4(
                host=s.host,
                port=s.port,
                timeout=s.timeout,
                conn_lost_cb=self._connection_lost,
                ssl_context=ssl.create_default_context() if s.tls else None,
            )
            await self._client.wait_hello_from_server()
            login = await self._client.login(s.user, s.password)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"cannot reach {s.host}:{s.port}: {type(exc).__name__}") from exc
        if login.result != "OK":
            raise ImapAuthError(f"login refused for {s.user} on {s.host}")
        await self._run(self.client.select(s.folder), f"select {s.folder}")

    async def _race(self, call: Awaitable[T], what: str) -> T:
        """Await `call`, unless the connection drops first (then ImapError). Whatever way this ends,
        including being cancelled, nothing is left running."""
        command = asyncio.ensure_future(call)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({command, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            finished = command.done()
            if not finished:
                command.cancel()
        if not finished or command.cancelled():
            raise ImapError(f"{what}: connection lost")
        return command.result()

    async def _run(self, call: Awaitable[aioimaplib.Response], what: str) -> aioimaplib.Response:
        try:
            response = await self._race(call, what)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"{what}: {type(exc).__name__}") from exc
        if self._client is not None and self._client.get_state() == "LOGOUT":
            raise ImapError(f"{what}: connection closed by the server")
        return _ok(response, what)

    async def unprocessed(self) -> list[str]:
        """UIDs of the messages to take, oldest first. Marked-seen mode takes unseen messages; move
        mode takes everything still in the folder (processed ones have left it)."""
        criteria = "UNSEEN" if self.settings.processed == "mark_seen" else "ALL"
        # Dovecot (and others) only look at new deliveries on a command that may report them:
        # without this NOOP a SEARCH right after new mail can come back empty.
        await self._run(self.client.noop(), "noop")
        response = await self._run(self.client.uid_search(criteria), "search")
        uids: list[str] = []
        for line in response.lines:
            if isinstance(line, bytes) and line and not line.startswith(b"SEARCH completed"):
                uids.extend(part.decode() for part in line.split() if part.isdigit())
        return sorted(set(uids), key=int)

    async def fetch(self, uid: str, max_bytes: int) -> bytes | None:
        """The message's first `max_bytes` bytes (a partial fetch keeps a huge message bounded), without
        setting \\Seen. None if the message is gone."""
        response = await self._run(self.client.uid("fetch", uid, f"(BODY.PEEK[]<0.{max_bytes}>)"), "fetch")
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None

    async def size(self, uid: str) -> int | None:
        response = await self._run(self.client.uid("fetch", uid, "(RFC822.SIZE)"), "fetch size")
        for line in response.lines:
            if isinstance(line, bytes):
                found = re.search(rb"RFC822\.SIZE (\d+)", line)
                if found:
                    return int(found.group(1))
        return None

    async def mark_processed(self, uid: str) -> None:
        s = self.settings
        if s.processed == "mark_seen":
            await self._run(self.client.uid("store", uid, "+FLAGS", r"(\Seen)"), "mark seen")
            return
        assert s.move_to is not None
        if self.client.has_capability("MOVE"):
            await self._run(self.client.uid("move", uid, s.move_to), f"move to {s.move_to}")
            return
        await self._run(self.client.uid("copy", uid, s.move_to), f"copy to {s.move_to}")
        await self._run(self.client.uid("store", uid, "+FLAGS", r"(\Deleted \Seen)"), "flag deleted")
        await self._run(self.client.expunge(), "expunge")

    async def wait_for_news(self, seconds: float, *, idle: bool = True) -> None:
        """Return when the folder may have changed, or after `seconds`."""
        if not (idle and self.client.has_capability("IDLE")):
            await asyncio.sleep(seconds)
            # A NOOP both keeps the session alive and notices a dead connection.
            await self._run(self.client.noop(), "noop")
            return
        timeout = min(seconds, IDLE_MAX_SECONDS)
        idle_task: asyncio.Future[object] | None = None
        try:
            idle_task = await self.client.idle_start(timeout=timeout)
            # A TimeoutError only means nothing happened in the interval: look anyway.
            with contextlib.suppress(TimeoutError):
                await self._race(self.client.wait_server_push(timeout=timeout), "idle")
        except (OSError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"idle: {type(exc).__name__}") from exc
        finally:
            if self._client is not None and self._client.has_pending_idle():
                self._client.idle_done()
        if idle_task is not None:
            await self._run(idle_task, "idle")
        if self.client.get_state() == "LOGOUT":
            raise ImapError("idle: connection closed by the server")

    async def close(self) -> None:
        if self._client is None:
            return
        client, self._client = self._client, None
        with contextlib.suppress(Exception):  # the connection may already be gone; nothing to save
            await asyncio.wait_for(client.logout(), timeout=5)
