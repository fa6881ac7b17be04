"""The support-mailbox poller: reads new mail over IMAP and hands each message to the e-mail intake.

A message is marked processed (\\Seen, or moved) only after its issue or reply is committed, and a
message is never taken twice (by Message-ID), so a crash, a restart or a server that goes away
mid-fetch loses nothing and doubles nothing: the next pass simply finds the message again. The
connection is re-established with exponential backoff; refused credentials are retried slowly and
logged at WARNING each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bot.config import AppConfig, EmailIntake
from bot.metrics import count_email_skipped, count_email_taken
from bot.services.email_intake import take_email
from bot.supervisor import Supervised
from db.session import Database, DatabaseUnavailable
from integrations.email import Skipped, parse_email
from integrations.imap import ImapAuthError, ImapError, ImapMailbox, MailboxSettings

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


def mailbox_settings(email: EmailIntake, password: str) -> MailboxSettings:
    return MailboxSettings(
        host=email.host,
        port=email.effective_port,
        tls=email.security == "tls",
        user=email.user,
        password=password,
        folder=email.folder,
        processed=email.processed,
        move_to=email.move_to,
    )


class MailPoller:
    def __init__(
        self,
        database: Database,
        config: AppConfig,
        password: str,
        *,
        wake: Callable[[], None] | None = None,
        first_backoff_seconds: float = 1.0,
    ) -> None:
        assert config.email is not None
        self.database = database
        self.config = config
        self.email = config.email
        self.settings = mailbox_settings(config.email, password)
        self._wake = wake
        self._first_backoff = first_backoff_seconds
        self._stopping = asyncio.Event()
        self._loop = Supervised("mail-poller", self.run_forever)

    async def process_new(self, mailbox: ImapMailbox) -> int:
        """Take every message not yet processed; returns how many were taken or skipped."""
        done = 0
        for uid in await mailbox.unprocessed():
            if self._stopping.is_set():
                break
            raw = await mailbox.fetch(uid, self.email.max_message_bytes)
            if raw is None:
                continue  # expunged meanwhile by someone else
            # Parsing a large or convoluted message is CPU work that can take a while: off the loop.
            parsed = await asyncio.to_thread(parse_email, raw, max_bytes=self.email.max_message_bytes)
            if isinstance(parsed, Skipped):
                log.info("e-mail skipped", extra={"uid": uid, "reason": parsed.reason})
                count_email_skipped(parsed.reason)
            else:
                outcome = await take_email(self.database, self.config, parsed)
                count_email_taken(outcome.kind)
                log.info(
                    "e-mail taken", extra={"uid": uid, "outcome": outcome.kind, "issue_id": outcome.issue_id}
                )
                if self._wake is not None:
                    self._wake()
            # Only now, with the issue committed: a crash before this line means the message is
            # found again next time and recognised by its Message-ID.
            await mailbox.mark_processed(uid)
            done += 1
        return done

    async def run_forever(self) -> None:
        backoff = self._first_backoff
        while not self._stopping.is_set():
            mailbox = ImapMailbox(self.settings)
            try:
                await mailbox.connect()
                log.info(
                    "mailbox connected", extra={"host": self.settings.host, "folder": self.settings.folder}
                )
                backoff = self._first_backoff
                while not self._stopping.is_set():
                    await self.process_new(mailbox)
                    await self._until_news(mailbox)
            except ImapAuthError as exc:
                log.warning(
                    "mailbox login refused; check the IMAP user and IMAP_PASSWORD", extra={"error": str(exc)}
                )
                backoff = MAX_BACKOFF_SECONDS
            except (ImapError, DatabaseUnavailable) as exc:
                log.warning(
                    "mailbox pass interrupted; reconnecting",
                    extra={"error": str(exc) or type(exc).__name__, "retry_in_seconds": backoff},
                )
            finally:
                await mailbox.close()
            await self._sleep(backoff)
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)

    async def _until_news(self, mailbox: ImapMailbox) -> None:
        waiting = asyncio.ensure_future(mailbox.wait_for_news(self.email.poll_seconds, idle=self.email.idle))
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if waiting in done:
            stopping.cancel()
            waiting.result()  # raises ImapError if the connection went away
        else:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError, ImapError):
                await waiting

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def start(self) -> None:
        """Read the mailbox in the background, restarted if the loop ever dies (`bot.supervisor`)."""
        self._stopping.clear()
        self._loop.start()

    async def stop(self) -> None:
        self._stopping.set()
        await self._loop.stop(grace=10)
