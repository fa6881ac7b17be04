"""First responses: the first time someone on our side answered an issue stops its SLA clock.

A first response is the first of: **I'm on it** (a claim), a merge or a resolution (someone looked at it
and placed it), a human reply in the card's thread, or a reply sent to the customer. It is recorded once,
into `issues.first_response_at` and `issues.first_response_by`, with a conditional update: a second
reply, Slack's retry of the same event, or two processes at once change nothing. The SLA reminders
(`bot.services.sla_reminders`) only look at issues without one, and the card is re-rendered to say who
answered and how long it took.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from bot import metrics
from bot.services.cards import CARD
from bot.services.triage import sync_card
from db.models import issues, slack_messages, utcnow
from db.session import Database


def record_first_response(conn: Connection, issue_id: int, user: str | None, at: datetime) -> bool:
    """Record `user`'s response to the issue at `at`, unless it already has one; True when recorded.

    Idempotent: call it for every reply (a thread reply, a reply to the customer) and only the first
    counts. A moment before the issue was received (a clock's skew) is read as its arrival."""
    row = conn.execute(
        select(issues.c.received_at, issues.c.severity, issues.c.first_response_at).where(
            issues.c.id == issue_id
        )
    ).first()
    if row is None or row.first_response_at is not None:
        return False
    moment = max(at, row.received_at)
    recorded = conn.execute(
        update(issues)
        .where(issues.c.id == issue_id, issues.c.first_response_at.is_(None))
        .values(first_response_at=moment, first_response_by=user, updated_at=utcnow())
    ).rowcount
    if not recorded:
        return False  # a concurrent reply got there first
    metrics.observe_since(row.received_at, row.severity, metrics.FIRST_RESPONSE_SECONDS, now=moment)
    sync_card(conn, issue_id)
    return True


def card_in_thread(conn: Connection, channel: str, thread_ts: str) -> int | None:
    """The issue whose card starts the thread `thread_ts` in `channel`, if it is a card's."""
    found = conn.execute(
        select(slack_messages.c.issue_id).where(
            and_(
                slack_messages.c.purpose == CARD,
                slack_messages.c.channel == channel,
                slack_messages.c.ts == thread_ts,
            )
        )
    ).scalar()
    return int(found) if found is not None else None


def record_thread_reply(
    conn: Connection, channel: str, thread_ts: str, user: str, at: datetime
) -> int | None:
    """A person's reply in a card's thread (a merged report's card counts for that report): the issue
    whose first response it was, or None (not a card's thread, or answered already)."""
    issue_id = card_in_thread(conn, channel, thread_ts)
    if issue_id is None:
        return None
    return issue_id if record_first_response(conn, issue_id, user, min(at, utcnow())) else None


async def take_thread_reply(
    database: Database, channel: str, thread_ts: str, user: str, at: datetime
) -> int | None:
    """`record_thread_reply` in its own transaction. Slack's retry of the event finds the first response
    recorded and changes nothing. Raises `DatabaseUnavailable`: the caller then answers so Slack retries."""
    return await database.transaction(lambda conn: record_thread_reply(conn, channel, thread_ts, user, at))
