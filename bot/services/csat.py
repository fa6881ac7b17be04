"""Satisfaction (`csat`): one "How did we do?" (1 to 5) to each customer told of a fix, and the answers.

A survey is a `csat_surveys` row, one per (problem, customer), scheduled when the customer is told (a fix
notice sent through their channel, or "Mark notified" when their report has a channel back) and sent by
the outbox `delay_hours` later through that report's channel. Its links carry a random secret of which
only the SHA-256 is stored: the secret is made just before the send, so it never sits in the outbox or
the database. A score is taken once before the link expires; a comment once, within an hour after it.
A low score posts to the card's thread, and the card and the weekly digest show the averages.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.errors import DomainError
from bot.domain.intake import clean_text
from bot.domain.outbox import SendSurvey, SurveyNote
from bot.domain.replies import ReplyChannelName, ReplyPurpose
from bot.services import outbox
from bot.services.escalation import mark_notified
from bot.services.replies import customer_label, email_thread, reply_route
from bot.services.triage import sync_problem_cards
from db.models import (
    csat_surveys,
    customer_notices,
    customer_replies,
    customers,
    issues,
    problems,
    slack_messages,
    utcnow,
)

log = logging.getLogger(__name__)

SCORES = range(1, 6)
COMMENT_MAX_CHARS = 1000
COMMENT_WINDOW = timedelta(hours=1)
# What `secrets.token_urlsafe(32)` makes (43 characters); anything else is not a token of ours.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


class SurveyGone(DomainError):
    """An unknown, expired or used link (answered as a 404 page with no detail)."""


class SurveyRefused(DomainError):
    """A request on a good link that cannot be taken as it is (a 400 page saying why)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def schedule(
    conn: Connection,
    config: AppConfig,
    *,
    problem_id: int,
    customer_id: int,
    issue_id: int,
    channel: ReplyChannelName,
) -> int | None:
    """Ask this customer once about this problem, `delay_hours` from now; the survey's id when new."""
    if not config.csat.enabled:
        return None
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    survey_id = conn.execute(
        dialect.insert(csat_surveys)
        .values(
            problem_id=problem_id,
            customer_id=customer_id,
            issue_id=issue_id,
            channel=channel.value,
            state="scheduled",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(csat_surveys.c.id)
    ).scalar()
    if survey_id is None:
        return None  # asked already (or being asked)
    outbox.enqueue_in(
        conn,
        SendSurvey(int(survey_id)),
        dedupe_key=f"csat:{survey_id}",
        new=True,
        delay=config.csat.delay_hours * 3600,
    )
    return int(survey_id)


def after_fix_notice(conn: Connection, config: AppConfig, reply_id: int) -> None:
    """A fix notice was sent: ask its customer through the same report and channel."""
    if not config.csat.enabled:
        return
    notice = conn.execute(
        select(
            customer_replies.c.problem_id,
            customer_replies.c.customer_id,
            customer_replies.c.issue_id,
            customer_replies.c.channel,
        ).where(
            customer_replies.c.id == reply_id, customer_replies.c.purpose == ReplyPurpose.FIX_NOTICE.value
        )
    ).first()
    if notice is None or notice.customer_id is None:
        return
    schedule(
        conn,
        config,
        problem_id=notice.problem_id,
        customer_id=notice.customer_id,
        issue_id=notice.issue_id,
        channel=ReplyChannelName(notice.channel),
    )


def mark_notified_and_ask(
    conn: Connection,
    config: AppConfig,
    configured: Collection[str],
    problem_id: int,
    customer_id: int | None,
    actor: str,
) -> int:
    """ "Mark notified" (one customer, or with None every one), then a survey for each customer told
    whose report has a channel back. How many were newly marked."""
    marked = mark_notified(conn, problem_id, customer_id, actor)
    if not config.csat.enabled:
        return marked
    told = select(customer_notices.c.customer_id).where(customer_notices.c.problem_id == problem_id)
    if customer_id is not None:
        told = told.where(customer_notices.c.customer_id == customer_id)
    told_ids = set(conn.execute(told).scalars())
    rows = conn.execute(
        select(issues.c.id, issues.c.customer_id, issues.c.source, customers.c.email)
        .join(customers, customers.c.id == issues.c.customer_id)
        .where(issues.c.problem_id == problem_id, issues.c.customer_id.in_(told_ids))
        .order_by(issues.c.id.desc())
    ).all()
    asked: set[int] = set()
    for row in rows:
        if row.customer_id in asked:
            continue
        route = reply_route(config, configured, row.source, row.email)
        if route.channel is None:
            continue  # no channel back from this report: perhaps from an older one
        asked.add(row.customer_id)
        schedule(
            conn,
            config,
            problem_id=problem_id,
            customer_id=row.customer_id,
            issue_id=row.id,
            channel=route.channel,
        )
    return marked


# -- Sending -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyToSend:
    survey_id: int
    state: str
    channel: ReplyChannelName
    subject: str
    source: str
    conversation_id: str
    to_email: str | None
    to_name: str | None
    in_reply_to: str | None
    references: tuple[str, ...]


def to_send(conn: Connection, survey_id: int) -> SurveyToSend | None:
    row = conn.execute(
        select(
            csat_surveys.c.id,
            csat_surveys.c.state,
            csat_surveys.c.channel,
            issues.c.id.label("issue_id"),
            issues.c.subject,
            issues.c.source,
            issues.c.external_id,
            customers.c.email,
            customers.c.name,
        )
        .join(issues, issues.c.id == csat_surveys.c.issue_id)
        .join(customers, customers.c.id == csat_surveys.c.customer_id)
        .where(csat_surveys.c.id == survey_id)
    ).first()
    if row is None:
        return None
    thread = email_thread(conn, row.issue_id, row.source, row.external_id)
    return SurveyToSend(
        survey_id=row.id,
        state=row.state,
        channel=ReplyChannelName(row.channel),
        subject=row.subject,
        source=row.source,
        conversation_id=row.external_id,
        to_email=row.email,
        to_name=row.name,
        in_reply_to=thread[-1] if thread else None,
        references=thread,
    )


def arm(conn: Connection, config: AppConfig, survey_id: int, token: str) -> bool:
    """Make `token` the survey's secret (its hash) before it is sent; False if it is no longer to send.
    A send whose outcome was unknown and not found again gets a new secret: the lost one never works."""
    return bool(
        conn.execute(
            update(csat_surveys)
            .where(csat_surveys.c.id == survey_id, csat_surveys.c.state == "scheduled")
            .values(
                token_hash=token_hash(token),
                expires_at=utcnow() + timedelta(days=config.csat.expires_days),
            )
        ).rowcount
    )


def record_sent(conn: Connection, survey_id: int, external_id: str) -> None:
    conn.execute(
        update(csat_surveys)
        .where(csat_surveys.c.id == survey_id)
        .values(state="sent", sent_at=utcnow(), external_id=external_id[:255], reason=None)
    )


def record_failed(conn: Connection, survey_id: int, reason: str) -> None:
    conn.execute(
        update(csat_surveys)
        .where(csat_surveys.c.id == survey_id)
        .values(state="failed", token_hash=None, reason=reason[:500])
    )


# -- Answers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    score: int
    can_comment: bool
    commented: bool = False


def _open_survey(
    conn: Connection, token: str, now: datetime
) -> tuple[int, int | None, datetime | None, str | None]:
    if not TOKEN_SHAPE.fullmatch(token):
        raise SurveyGone("unknown link")
    row = conn.execute(
        select(
            csat_surveys.c.id,
            csat_surveys.c.score,
            csat_surveys.c.answered_at,
            csat_surveys.c.comment,
            csat_surveys.c.expires_at,
        ).where(csat_surveys.c.token_hash == token_hash(token), csat_surveys.c.state == "sent")
    ).first()
    if row is None or row.expires_at is None or row.expires_at <= now:
        raise SurveyGone("unknown or expired link")
    return row.id, row.score, row.answered_at, row.comment


def parse_score(raw: str | None) -> int:
    if raw is None or not raw.strip().isdigit() or int(raw.strip()) not in SCORES:
        raise SurveyRefused("The score must be a whole number from 1 to 5.")
    return int(raw.strip())


def answer(conn: Connection, config: AppConfig, token: str, raw_score: str | None) -> Answered:
    """Take the score of a good, unexpired, unanswered link (once: a second use is `SurveyGone`)."""
    now = utcnow()
    survey_id, score, _answered_at, _comment = _open_survey(conn, token, now)
    if score is not None:
        raise SurveyGone("already answered")
    chosen = parse_score(raw_score)
    taken = conn.execute(
        update(csat_surveys)
        .where(csat_surveys.c.id == survey_id, csat_surveys.c.score.is_(None))
        .values(score=chosen, answered_at=now)
        .returning(csat_surveys.c.problem_id)
    ).first()
    if taken is None:
        raise SurveyGone("already answered")  # a concurrent answer won
    log.info("satisfaction answered", extra={"survey_id": survey_id, "score": chosen})
    if chosen <= config.csat.low_score:
        outbox.enqueue_in(conn, SurveyNote(survey_id), dedupe_key=f"csat-note:{survey_id}")
    sync_problem_cards(conn, int(taken.problem_id))
    return Answered(chosen, can_comment=True)


def clean_comment(text: str) -> str:
    cleaned = clean_text(text).strip()
    if not cleaned:
        raise SurveyRefused("The comment is empty.")
    if len(cleaned) > COMMENT_MAX_CHARS:
        raise SurveyRefused(f"The comment is longer than {COMMENT_MAX_CHARS:,} characters.")
    return cleaned


def add_comment(conn: Connection, config: AppConfig, token: str, text: str) -> Answered:
    """The comment of an answered link, once and within an hour of the score."""
    now = utcnow()
    survey_id, score, answered_at, comment = _open_survey(conn, token, now)
    if score is None or answered_at is None or comment is not None or now - answered_at > COMMENT_WINDOW:
        raise SurveyGone("no comment expected")
    cleaned = clean_comment(text)
    taken = conn.execute(
        update(csat_surveys)
        .where(csat_surveys.c.id == survey_id, csat_surveys.c.comment.is_(None))
        .values(comment=cleaned, commented_at=now)
    ).rowcount
    if not taken:
        raise SurveyGone("already commented")
    if score <= config.csat.low_score:
        outbox.enqueue_in(conn, SurveyNote(survey_id), dedupe_key=f"csat-note:{survey_id}")
    return Answered(score, can_comment=False, commented=True)


# -- What people see ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LowScoreNote:
    survey_id: int
    customer: str
    score: int
    comment: str | None
    card_channel: str | None
    card_ts: str | None
    posted_channel: str | None
    posted_ts: str | None


def note_target(conn: Connection, survey_id: int, card_purpose: str) -> LowScoreNote | None:
    row = conn.execute(
        select(
            csat_surveys.c.id,
            csat_surveys.c.score,
            csat_surveys.c.comment,
            csat_surveys.c.note_channel,
            csat_surveys.c.note_ts,
            customers.c.name,
            customers.c.company,
            customers.c.email,
            slack_messages.c.channel,
            slack_messages.c.ts,
        )
        .join(customers, customers.c.id == csat_surveys.c.customer_id)
        .join(problems, problems.c.id == csat_surveys.c.problem_id)
        .outerjoin(
            slack_messages,
            (slack_messages.c.issue_id == problems.c.primary_issue_id)
            & (slack_messages.c.purpose == card_purpose),
        )
        .where(csat_surveys.c.id == survey_id)
    ).first()
    if row is None or row.score is None:
        return None
    return LowScoreNote(
        survey_id=row.id,
        customer=customer_label(row.name, row.company, row.email),
        score=int(row.score),
        comment=row.comment,
        card_channel=row.channel,
        card_ts=row.ts,
        posted_channel=row.note_channel,
        posted_ts=row.note_ts,
    )


def record_note(conn: Connection, survey_id: int, channel: str, ts: str) -> None:
    conn.execute(
        update(csat_surveys).where(csat_surveys.c.id == survey_id).values(note_channel=channel, note_ts=ts)
    )
