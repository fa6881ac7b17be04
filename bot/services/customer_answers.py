"""Customers' answers from the helpdesks: an Intercom reply or a public Zendesk comment by the
customer on a conversation that is already an issue joins that issue, as an e-mail reply does.

The answer is taken once by the sender's delivery id (an inbound delivery key, as at intake), and
in the same transaction it is added to the issue's history (an `issue_events` row of kind
`customer_answer`) and a `ThreadNote` is queued to post it in the card's thread; the note is
rendered when it is sent (`bot.views.notes.render_customer_answer`). An answer on a conversation
that is no issue of ours is acknowledged and dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from bot.domain.intake import CustomerAnswer
from bot.domain.outbox import ThreadNote
from bot.services import outbox, replies
from db.models import customers, issue_events, issues, utcnow
from db.queries.deliveries import claim_delivery, delivered, delivery_key
from db.session import Database

log = logging.getLogger(__name__)

CUSTOMER_ANSWER = "customer_answer"  # issue_events.kind


@dataclass(frozen=True)
class AnswerOutcome:
    """What became of an answer. `issue_id` is the issue it joined (also for a repeat of an answer
    already taken); None when the conversation is no issue of ours. `event_id` is the history row
    written by this call (None for a repeat), `at` when the customer wrote (or when we heard)."""

    kind: Literal["recorded", "duplicate", "no_issue"]
    issue_id: int | None
    event_id: int | None = None
    at: datetime | None = None


def answer_key(answer: CustomerAnswer) -> str:
    """The inbound delivery key of an answer: the same namespace as the helpdesk's intake
    deliveries (`intake:<source>:<delivery id>`), so one delivery is taken once whatever it is."""
    return delivery_key(f"intake:{answer.source}:", answer.delivery_id)


def _record(conn: Connection, answer: CustomerAnswer) -> AnswerOutcome:
    key = answer_key(answer)
    seen, seen_issue = delivered(conn, key)
    if seen:
        return AnswerOutcome("duplicate", seen_issue)
    issue = conn.execute(
        select(issues.c.id, issues.c.body, customers.c.company, customers.c.name)
        .outerjoin(customers, customers.c.id == issues.c.customer_id)
        .where(issues.c.source == answer.source, issues.c.external_id == answer.conversation_id)
    ).first()
    if issue is None:
        return AnswerOutcome("no_issue", None)
    now = utcnow()
    if not claim_delivery(conn, key, issue_id=issue.id, now=now):
        return AnswerOutcome("duplicate", issue.id)  # taken since the look above, by a concurrent retry
    if _same_text(answer.text, issue.body):
        # The report's own text: Zendesk announces a ticket's description, its first comment, as
        # ticket.comment_added too. Taken (a retry finds it) but not repeated in the thread.
        return AnswerOutcome("duplicate", issue.id)
    at = answer.at or now
    event_id = conn.execute(
        insert(issue_events)
        .values(
            issue_id=issue.id,
            kind=CUSTOMER_ANSWER,
            actor=None,
            detail={
                "source": answer.source,
                "conversation_id": answer.conversation_id,
                "delivery_id": answer.delivery_id,
                "author_name": answer.author_name,
                "author_email": answer.author_email,
                "company": issue.company,
                "customer_name": issue.name,
                "text": answer.text,
                "at": at.isoformat(),
            },
            created_at=now,
        )
        .returning(issue_events.c.id)
    ).scalar_one()
    outbox.enqueue_in(conn, ThreadNote(event_id))
    replies.mark_answered(conn, issue.id)  # what we sent them now shows they answered
    return AnswerOutcome("recorded", issue.id, event_id, at)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


async def record_customer_answer(database: Database, answer: CustomerAnswer) -> AnswerOutcome:
    """Store one customer's answer and queue its thread note, in one transaction. Safe to call
    again for the same delivery (a helpdesk's retry): the second call records nothing.

    The outcome names the issue answered (`issue_id`) and when (`at`): whatever else a customer's
    answer should change (a reply waiting for the customer marked as answered, say) keys on it."""
    outcome = await database.transaction(lambda conn: _record(conn, answer))
    if outcome.kind == "recorded":
        log.info(
            "customer answer added to its issue",
            extra={"issue_id": outcome.issue_id, "source": answer.source},
        )
    elif outcome.kind == "no_issue":
        # A conversation we never took (opened before the webhook was set up, or not a customer
        # report): nothing to join. Ids only, never the customer's text.
        log.debug(
            "customer answer on a conversation with no issue",
            extra={"source": answer.source, "conversation_id": answer.conversation_id[:100]},
        )
    return outcome
