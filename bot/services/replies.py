"""Answering a customer from Slack: through the report's own channel, once, with its state in the
card's thread.

Only "Reply to customer" (and "Tell all N customers…") sends anything out; a message in a card's thread
stays in Slack. A reply is a `customer_replies` row, written with its outbox items in one transaction:
`SendReply` delivers it (key `reply:{id}`, so a retry after a lost answer finds what it sent instead of
sending again) and `ReplyThreadNote` keeps its line in the thread true ("Sent to Globex by e-mail by
@maya"), with the reason and a Retry button when it failed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.errors import AlreadyDone, DomainError, NotConfigured, NotFound
from bot.domain.outbox import CustomerList, ReplyThreadNote, SendReply
from bot.domain.replies import (
    CHANNEL_WORDS,
    REPLY_MAX_CHARS,
    FixNoticeForm,
    ReplyChannelName,
    ReplyForm,
    ReplyNote,
    ReplyPurpose,
    ReplyRoute,
    ReplyState,
)
from bot.services import outbox
from bot.services.escalation import mark_notified
from bot.services.first_response import record_first_response
from bot.services.triage import customers_of
from bot.slack_text import text_for_customer
from db.models import (
    customer_notices,
    customer_replies,
    customers,
    escalations,
    issue_events,
    issues,
    macros,
    problems,
    slack_messages,
    utcnow,
)

HELPDESKS = {"intercom": ReplyChannelName.INTERCOM, "zendesk": ReplyChannelName.ZENDESK}
# Sources whose reports come from our own people or Slack: never a channel back but e-mail.
NO_WAY_BACK = {"slack"}
CHANNEL_SETTINGS = {
    ReplyChannelName.EMAIL: "SMTP_URL and SUPPORT_EMAIL_FROM",
    ReplyChannelName.INTERCOM: "INTERCOM_ACCESS_TOKEN",
    ReplyChannelName.ZENDESK: "ZENDESK_SUBDOMAIN, ZENDESK_EMAIL and ZENDESK_API_TOKEN",
    ReplyChannelName.WEBHOOK: "INTAKE_SECRET",
}


class ReplyRefused(DomainError):
    """A reply that cannot be sent as written (shown on the form's text field)."""


class NoChannelBack(ReplyRefused, NotConfigured):
    """The report's customer cannot be reached from here."""


def customer_label(name: str | None, company: str | None, email: str | None) -> str:
    """How a person names the customer: "Globex (Ana Pérez)", "Ana Pérez", an address."""
    if company and name:
        return f"{company} ({name})"
    return company or name or email or "the customer"


def reply_route(
    config: AppConfig, configured: Collection[str], source: str, customer_email: str | None
) -> ReplyRoute:
    """Which channel a report of `source` is answered through, given the channels whose settings are
    present (`configured`); without one, why not."""
    wanted: ReplyChannelName | None = None
    if source == "email":
        wanted = ReplyChannelName.EMAIL
    elif source in HELPDESKS:
        wanted = HELPDESKS[source]
    elif source not in NO_WAY_BACK and source in config.replies.webhooks:
        wanted = ReplyChannelName.WEBHOOK
    if wanted is not None and wanted in configured:
        return ReplyRoute(wanted)
    fallback = config.replies.email_fallback and customer_email and ReplyChannelName.EMAIL in configured
    if fallback:
        return ReplyRoute(ReplyChannelName.EMAIL)
    if wanted is not None:
        return ReplyRoute(
            None, f"Replies {CHANNEL_WORDS[wanted]} are not set up here ({CHANNEL_SETTINGS[wanted]})."
        )
    if source in NO_WAY_BACK:
        reason = "This report came from Slack, so there is no channel back to the customer"
    else:
        reason = f"The source {source[:64]!r} has no channel back (no `replies.webhooks` notify_url)"
    if customer_email and not config.replies.email_fallback:
        reason += "; `replies.email_fallback` would answer by e-mail"
    return ReplyRoute(None, reason + ".")


@dataclass(frozen=True)
class _Report:
    issue_id: int
    problem_id: int
    source: str
    subject: str
    customer_id: int | None
    name: str | None
    company: str | None
    email: str | None


def _report(conn: Connection, issue_id: int) -> _Report | None:
    row = conn.execute(
        select(
            issues.c.id,
            issues.c.problem_id,
            issues.c.source,
            issues.c.subject,
            issues.c.customer_id,
            customers.c.name,
            customers.c.company,
            customers.c.email,
        )
        .outerjoin(customers, customers.c.id == issues.c.customer_id)
        .where(issues.c.id == issue_id)
    ).first()
    if row is None:
        return None
    return _Report(row.id, row.problem_id, row.source, row.subject, *row[4:])


def reply_form(conn: Connection, config: AppConfig, configured: Collection[str], issue_id: int) -> ReplyForm:
    """What "Reply to customer" opens with for one report."""
    report = _report(conn, issue_id)
    if report is None:
        raise NotFound("That report no longer exists.")
    if report.customer_id is None:
        raise NoChannelBack("This report has no customer yet: set one first.")
    return ReplyForm(
        issue_id=issue_id,
        customer=customer_label(report.name, report.company, report.email),
        subject=report.subject,
        route=reply_route(config, configured, report.source, report.email),
    )


def clean_reply(text: str) -> str:
    """The text as the customer will get it, or `ReplyRefused` saying why it cannot be sent."""
    cleaned, problem = text_for_customer(text, REPLY_MAX_CHARS)
    if problem:
        raise ReplyRefused(problem)
    return cleaned


def queue_reply(
    conn: Connection,
    config: AppConfig,
    configured: Collection[str],
    issue_id: int,
    user: str,
    text: str,
    *,
    macro_id: int | None = None,
    purpose: ReplyPurpose = ReplyPurpose.REPLY,
) -> int:
    """Record a reply to the report's customer and queue its send and its thread line; the reply's id.
    A reply is also the report's first response when it has none yet."""
    report = _report(conn, issue_id)
    if report is None:
        raise NotFound("That report no longer exists.")
    if report.customer_id is None:
        raise NoChannelBack("This report has no customer yet: set one first.")
    route = reply_route(config, configured, report.source, report.email)
    if route.channel is None:
        raise NoChannelBack(route.reason or "There is no channel back to this customer.")
    cleaned = clean_reply(text)
    now = utcnow()
    if macro_id is not None:
        counted = conn.execute(
            update(macros).where(macros.c.id == macro_id).values(uses=macros.c.uses + 1, last_used_at=now)
        )
        if not counted.rowcount:
            macro_id = None  # removed since it filled the form: the reply stands on its own
    reply_id = int(
        conn.execute(
            insert(customer_replies)
            .values(
                purpose=purpose.value,
                issue_id=issue_id,
                problem_id=report.problem_id,
                customer_id=report.customer_id,
                channel=route.channel.value,
                text=cleaned,
                sent_by=user,
                state=ReplyState.QUEUED.value,
                macro_id=macro_id,
                created_at=now,
                updated_at=now,
            )
            .returning(customer_replies.c.id)
        ).scalar_one()
    )
    record_first_response(conn, issue_id, user, now)
    outbox.enqueue_in(conn, SendReply(reply_id), dedupe_key=f"reply:{reply_id}", new=True)
    enqueue_note(conn, reply_id)
    return reply_id


def retry_reply(conn: Connection, reply_id: int, user: str) -> None:
    """Send a failed reply again (the same text, the same key)."""
    state = conn.execute(select(customer_replies.c.state).where(customer_replies.c.id == reply_id)).scalar()
    if state is None:
        raise NotFound("That reply no longer exists.")
    if state != ReplyState.FAILED.value:
        raise AlreadyDone("That reply is not failed: nothing to retry.")
    conn.execute(
        update(customer_replies)
        .where(customer_replies.c.id == reply_id, customer_replies.c.state == ReplyState.FAILED.value)
        .values(state=ReplyState.QUEUED.value, reason=None, updated_at=utcnow())
    )
    outbox.enqueue_in(conn, SendReply(reply_id), dedupe_key=f"reply:{reply_id}")
    enqueue_note(conn, reply_id)


def enqueue_note(conn: Connection, reply_id: int) -> None:
    """(Re-)render what shows the reply: its line in its card's thread (one item per reply, so two
    states never race to post two lines) or, for a fix notice, the problem's customers to tell."""
    row = conn.execute(
        select(customer_replies.c.purpose, customer_replies.c.problem_id).where(
            customer_replies.c.id == reply_id
        )
    ).first()
    if row is not None and row.purpose == ReplyPurpose.FIX_NOTICE.value:
        outbox.enqueue_in(conn, CustomerList(row.problem_id), dedupe_key=f"customer-list:{row.problem_id}")
        return
    outbox.enqueue_in(conn, ReplyThreadNote(reply_id), dedupe_key=f"reply-note:{reply_id}")


@dataclass(frozen=True)
class ToSend:
    """Everything a channel needs to deliver one reply."""

    reply_id: int
    issue_id: int
    channel: ReplyChannelName
    state: ReplyState
    text: str
    subject: str
    source: str
    conversation_id: str
    to_email: str | None
    to_name: str | None
    sent_by: str | None
    in_reply_to: str | None
    references: tuple[str, ...]


def email_thread(conn: Connection, issue_id: int, source: str, external_id: str) -> tuple[str, ...]:
    """The Message-IDs of the customer's e-mails on a report, oldest first (for References)."""
    ids: list[str] = []
    if source == "email" and not external_id.startswith("sha256:"):
        ids.append(external_id)
    for detail in conn.execute(
        select(issue_events.c.detail)
        .where(issue_events.c.issue_id == issue_id, issue_events.c.kind == "email_reply")
        .order_by(issue_events.c.id)
    ).scalars():
        message_id = (detail or {}).get("message_id")
        if isinstance(message_id, str) and message_id and message_id not in ids:
            ids.append(message_id)
    return tuple(ids)


def to_send(conn: Connection, reply_id: int) -> ToSend | None:
    row = conn.execute(
        select(
            customer_replies.c.id,
            customer_replies.c.issue_id,
            customer_replies.c.channel,
            customer_replies.c.state,
            customer_replies.c.text,
            customer_replies.c.sent_by,
            issues.c.subject,
            issues.c.source,
            issues.c.external_id,
            customers.c.email,
            customers.c.name,
        )
        .join(issues, issues.c.id == customer_replies.c.issue_id)
        .outerjoin(customers, customers.c.id == customer_replies.c.customer_id)
        .where(customer_replies.c.id == reply_id)
    ).first()
    if row is None:
        return None
    thread = email_thread(conn, row.issue_id, row.source, row.external_id)
    return ToSend(
        reply_id=row.id,
        issue_id=row.issue_id,
        channel=ReplyChannelName(row.channel),
        state=ReplyState(row.state),
        text=row.text,
        subject=row.subject,
        source=row.source,
        conversation_id=row.external_id,
        to_email=row.email,
        to_name=row.name,
        sent_by=row.sent_by,
        in_reply_to=thread[-1] if thread else None,
        references=thread,
    )


def record_sent(conn: Connection, reply_id: int, external_id: str) -> None:
    now = utcnow()
    notice = conn.execute(
        select(
            customer_replies.c.problem_id, customer_replies.c.customer_id, customer_replies.c.sent_by
        ).where(
            customer_replies.c.id == reply_id, customer_replies.c.purpose == ReplyPurpose.FIX_NOTICE.value
        )
    ).first()
    if notice is not None and notice.customer_id is not None:
        # Told through their own channel: the customer counts as told, like "Mark notified".
        mark_notified(conn, notice.problem_id, notice.customer_id, notice.sent_by or "")
    conn.execute(
        update(customer_replies)
        .where(customer_replies.c.id == reply_id)
        .values(
            state=ReplyState.SENT.value,
            external_id=external_id[:255],
            sent_at=now,
            reason=None,
            updated_at=now,
        )
    )
    enqueue_note(conn, reply_id)


def record_failed(conn: Connection, reply_id: int, reason: str) -> None:
    conn.execute(
        update(customer_replies)
        .where(customer_replies.c.id == reply_id)
        .values(state=ReplyState.FAILED.value, reason=reason[:500], updated_at=utcnow())
    )
    enqueue_note(conn, reply_id)


def mark_answered(conn: Connection, issue_id: int) -> None:
    """The customer of a report answered: its sent replies show "replied"."""
    now = utcnow()
    answered = list(
        conn.execute(
            update(customer_replies)
            .where(
                customer_replies.c.issue_id == issue_id,
                customer_replies.c.state == ReplyState.SENT.value,
            )
            .values(state=ReplyState.REPLIED.value, replied_at=now, updated_at=now)
            .returning(customer_replies.c.id)
        ).scalars()
    )
    for reply_id in answered:
        enqueue_note(conn, reply_id)


@dataclass(frozen=True)
class NoteTarget:
    note: ReplyNote
    card_channel: str | None  # the thread it goes in (the report's card); None: not posted yet
    card_ts: str | None
    posted_channel: str | None  # where its line already is, if posted
    posted_ts: str | None


def note_target(conn: Connection, reply_id: int, card_purpose: str) -> NoteTarget | None:
    row = conn.execute(
        select(
            customer_replies,
            customers.c.name,
            customers.c.company,
            customers.c.email,
            slack_messages.c.channel.label("card_channel"),
            slack_messages.c.ts.label("card_ts"),
        )
        .outerjoin(customers, customers.c.id == customer_replies.c.customer_id)
        .outerjoin(
            slack_messages,
            and_(
                slack_messages.c.issue_id == customer_replies.c.issue_id,
                slack_messages.c.purpose == card_purpose,
            ),
        )
        .where(customer_replies.c.id == reply_id)
    ).first()
    if row is None:
        return None
    card_channel, card_ts = row.card_channel, row.card_ts
    if card_channel is None:
        # A report merged at intake has no card of its own: its problem's card has the thread.
        card = conn.execute(
            select(slack_messages.c.channel, slack_messages.c.ts)
            .join(problems, problems.c.primary_issue_id == slack_messages.c.issue_id)
            .where(problems.c.id == row.problem_id, slack_messages.c.purpose == card_purpose)
        ).first()
        if card is not None:
            card_channel, card_ts = card.channel, card.ts
    note = ReplyNote(
        reply_id=row.id,
        customer=customer_label(row.name, row.company, row.email),
        channel=ReplyChannelName(row.channel),
        sent_by=row.sent_by,
        state=ReplyState(row.state),
        text=row.text,
        reason=row.reason,
        purpose=ReplyPurpose(row.purpose),
    )
    return NoteTarget(note, card_channel, card_ts, row.note_channel, row.note_ts)


def record_note(conn: Connection, reply_id: int, channel: str, ts: str) -> None:
    conn.execute(
        update(customer_replies)
        .where(customer_replies.c.id == reply_id)
        .values(note_channel=channel, note_ts=ts)
    )


def _first_name(name: str | None) -> str:
    return (name or "").split()[0] if (name or "").split() else "there"


@dataclass(frozen=True)
class _Reachable:
    customer_id: int
    issue_id: int
    channel: ReplyChannelName
    name: str | None


def _to_tell(
    conn: Connection, config: AppConfig, configured: Collection[str], problem_id: int
) -> tuple[list[_Reachable], list[str]]:
    """The problem's customers not told yet and not sent a notice yet: each with the report it is
    answered through (their latest one that has a channel back), and the names of those unreachable."""
    wanted = customers_of(conn, problem_id)
    done = set(
        conn.execute(
            select(customer_notices.c.customer_id).where(customer_notices.c.problem_id == problem_id)
        ).scalars()
    ) | set(
        conn.execute(
            select(customer_replies.c.customer_id).where(
                customer_replies.c.problem_id == problem_id,
                customer_replies.c.purpose == ReplyPurpose.FIX_NOTICE.value,
            )
        ).scalars()
    )
    rows = conn.execute(
        select(
            issues.c.id,
            issues.c.customer_id,
            issues.c.source,
            customers.c.name,
            customers.c.company,
            customers.c.email,
        )
        .join(customers, customers.c.id == issues.c.customer_id)
        .where(
            issues.c.problem_id == problem_id, issues.c.customer_id.in_([c for c in wanted if c not in done])
        )
        .order_by(issues.c.id.desc())
    ).all()
    reachable: dict[int, _Reachable] = {}
    names: dict[int, str] = {}
    for row in rows:
        names.setdefault(row.customer_id, customer_label(row.name, row.company, row.email))
        if row.customer_id in reachable:
            continue
        route = reply_route(config, configured, row.source, row.email)
        if route.channel is not None:
            reachable[row.customer_id] = _Reachable(row.customer_id, row.id, route.channel, row.name)
    ordered = [reachable[c] for c in wanted if c in reachable]
    unreachable = [names[c] for c in wanted if c in names and c not in reachable]
    return ordered, unreachable


def fix_notice_form(
    conn: Connection, config: AppConfig, configured: Collection[str], problem_id: int
) -> FixNoticeForm:
    """What "Tell all N customers…" opens with: the template filled in, and who it reaches how."""
    problem = conn.execute(
        select(issues.c.subject, escalations.c.jira_fix_versions)
        .select_from(problems)
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .outerjoin(escalations, escalations.c.problem_id == problems.c.id)
        .where(problems.c.id == problem_id)
    ).first()
    if problem is None:
        raise NotFound("That problem no longer exists.")
    reachable, unreachable = _to_tell(conn, config, configured, problem_id)
    versions = [str(v) for v in (problem.jira_fix_versions or ())][:3]
    release = f" in version {', '.join(versions)}" if versions else ""
    text = config.replies.fix_notice.replace("{subject}", problem.subject).replace("{release}", release)
    by_channel: dict[str, int] = {}
    for person in reachable:
        words = CHANNEL_WORDS[person.channel]
        by_channel[words] = by_channel.get(words, 0) + 1
    return FixNoticeForm(
        problem_id=problem_id,
        subject=problem.subject,
        text=text,
        by_channel=tuple(sorted(by_channel.items())),
        unreachable=tuple(unreachable),
    )


def tell_all(
    conn: Connection,
    config: AppConfig,
    configured: Collection[str],
    problem_id: int,
    user: str,
    text: str,
) -> int:
    """Send the fix notice to every customer of the problem not told yet, each through their own
    channel and once (a unique index holds it across clicks and workers); how many were queued."""
    cleaned = clean_reply(text)
    reachable, _ = _to_tell(conn, config, configured, problem_id)
    if not reachable:
        raise NoChannelBack("No customer left to tell can be reached from here: use Mark notified once told.")
    now = utcnow()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    queued = 0
    for person in reachable:
        personal, problem = text_for_customer(
            cleaned.replace("{name}", _first_name(person.name)), REPLY_MAX_CHARS
        )
        if problem:
            raise ReplyRefused(problem)
        reply_id = conn.execute(
            dialect.insert(customer_replies)
            .values(
                purpose=ReplyPurpose.FIX_NOTICE.value,
                issue_id=person.issue_id,
                problem_id=problem_id,
                customer_id=person.customer_id,
                channel=person.channel.value,
                text=personal,
                sent_by=user,
                state=ReplyState.QUEUED.value,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(customer_replies.c.id)
        ).scalar()
        if reply_id is None:
            continue  # another click got there first
        outbox.enqueue_in(conn, SendReply(int(reply_id)), dedupe_key=f"reply:{reply_id}", new=True)
        queued += 1
    outbox.enqueue_in(conn, CustomerList(problem_id), dedupe_key=f"customer-list:{problem_id}")
    return queued
