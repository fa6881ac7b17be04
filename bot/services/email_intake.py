"""The support mailbox: each new e-mail conversation becomes an issue; a reply joins its issue.

A message is taken once, by its Message-ID, across restarts (an inbound delivery key). A reply is
recognised by In-Reply-To / References naming a message already taken, or else by the same sender
writing again under the same subject (Re:, Fwd: … aside) within `email.subject_thread_days`; it is
added to the issue's history and posted in its card's thread instead of making a new issue.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.intake import Customer, IntakeRequest
from bot.domain.outbox import ThreadNote
from bot.services import outbox, replies
from bot.services.intake import ingest_issue, point_key
from db.models import inbound_deliveries, issue_events, utcnow
from db.queries.deliveries import claim_delivery, delivered
from db.session import Database
from integrations.email import Attachment, ParsedEmail

log = logging.getLogger(__name__)

SOURCE = "email"


@dataclass(frozen=True)
class EmailOutcome:
    kind: Literal["new_issue", "reply", "duplicate"]
    issue_id: int


def _bounded(prefix: str, value: str) -> str:
    """A delivery key of at most 255 characters: long ids are hashed."""
    key = f"{prefix}{value}"
    if len(key) <= 255:
        return key
    return f"{prefix}sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def message_key(message_id: str) -> str:
    return _bounded("email:", message_id)


def subject_key(sender: str, thread_subject: str) -> str:
    digest = hashlib.sha256(f"{sender}\n{thread_subject}".encode()).hexdigest()
    return f"email-thread:{digest}"


def attachments_line(attachments: tuple[Attachment, ...]) -> str:
    def size(n: int) -> str:
        return f"{n} B" if n < 1024 else f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1048576:.1f} MB"

    return "Attachments (not stored): " + ", ".join(f"{a.filename} ({size(a.size)})" for a in attachments)


def body_with_attachments(mail: ParsedEmail) -> str:
    if not mail.attachments:
        return mail.text
    return f"{mail.text}\n\n{attachments_line(mail.attachments)}"


def _find_thread(conn: Connection, config: AppConfig, mail: ParsedEmail) -> int | None:
    """The issue this message answers, if any: by its headers first, then by subject."""
    ids = [*mail.in_reply_to, *reversed(mail.references)]
    if ids:
        keys = [message_key(i) for i in ids]
        rows = dict(
            conn.execute(
                select(inbound_deliveries.c.key, inbound_deliveries.c.issue_id).where(
                    inbound_deliveries.c.key.in_(keys), inbound_deliveries.c.issue_id.is_not(None)
                )
            ).all()
        )
        for key in keys:  # the direct parent first, then the nearest ancestor
            if key in rows:
                return int(rows[key])
    days = config.email.subject_thread_days if config.email else 0
    if days and mail.thread_subject:
        row = conn.execute(
            select(inbound_deliveries.c.issue_id).where(
                inbound_deliveries.c.key == subject_key(mail.sender_email, mail.thread_subject),
                inbound_deliveries.c.received_at >= utcnow() - timedelta(days=days),
            )
        ).scalar()
        if row is not None:
            return int(row)
    return None


async def take_email(database: Database, config: AppConfig, mail: ParsedEmail) -> EmailOutcome:
    """Store one parsed e-mail. Safe to call again for the same message (after a crash, say)."""
    key = message_key(mail.message_id)

    def as_reply(conn: Connection) -> EmailOutcome | None:
        now = utcnow()
        seen, seen_issue = delivered(conn, key)
        if seen:
            return EmailOutcome("duplicate", int(seen_issue or 0))
        issue_id = _find_thread(conn, config, mail)
        if issue_id is None:
            return None
        if not claim_delivery(conn, key, issue_id=issue_id, now=now):
            return EmailOutcome("duplicate", issue_id)  # taken since the look above, by another poller
        event_id = conn.execute(
            insert(issue_events)
            .values(
                issue_id=issue_id,
                kind="email_reply",
                actor=None,
                detail={
                    "message_id": mail.message_id,
                    "from_name": mail.sender_name,
                    "from_email": mail.sender_email,
                    "subject": mail.subject,
                    "text": body_with_attachments(mail),
                },
                created_at=now,
            )
            .returning(issue_events.c.id)
        ).scalar_one()
        point_key(conn, subject_key(mail.sender_email, mail.thread_subject), issue_id, now)
        outbox.enqueue_in(conn, ThreadNote(event_id))
        replies.mark_answered(conn, issue_id)  # what we sent them now shows they answered
        return EmailOutcome("reply", issue_id)

    outcome = await database.transaction(as_reply)
    if outcome is not None:
        if outcome.kind == "reply":
            log.info("e-mail reply added to its issue", extra={"issue_id": outcome.issue_id})
        return outcome
    request = IntakeRequest(
        external_id=key.removeprefix("email:"),
        source=SOURCE,
        subject=mail.subject,
        body=body_with_attachments(mail),
        customer=Customer(
            id=mail.sender_email, name=mail.sender_name, email=mail.sender_email, company=mail.company
        ),
        created_at=mail.date,
    )
    result = await ingest_issue(
        database,
        config,
        request,
        delivery_key=key,
        thread_keys=(subject_key(mail.sender_email, mail.thread_subject),) if mail.thread_subject else (),
    )
    return EmailOutcome("new_issue" if result.created else "duplicate", result.issue_id)
