"""Escalation to Jira and what flows back: the domain side, in transactions. No Jira or Slack calls
here: the outbox makes them (bot/jira_deliveries.py), so a click is answered at once and Jira being
slow, down or rate limited delays the issue but never loses or doubles it.

Exactly one Jira issue per problem: the `escalations` row (unique per problem) is taken in the click's
transaction — ten people clicking at once, a double click or Slack retrying the request all find it —
and the one outbox item that creates the issue first looks in Jira for an issue carrying the
escalation's label, so a creation whose answer was lost (a dropped connection) is found, not repeated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.escalation import EscalationDefaults, EscalationState, RationaleWritten
from bot.domain.jira import JiraSnapshot
from bot.domain.outbox import (
    CustomerList,
    JiraEscalate,
    JiraLink,
    JiraRationale,
    PostRenderer,
    RationaleRequest,
)
from bot.services import outbox
from bot.services.home import refresh_home
from bot.services.posts import enqueue_post
from bot.services.routing import RouteFacts, route_issue
from bot.services.triage import (
    TriageError,
    active_escalation,
    customers_of,
    load_primary,
    note,
    set_problem_status,
    sync_card,
    sync_problem_cards,
)
from db.models import (
    customer_notices,
    escalations,
    issue_tags,
    issues,
    posted_messages,
    problems,
    utcnow,
)

log = logging.getLogger(__name__)

RATIONALE_MAX = 3000
# States whose Jira issue stays: escalating again is refused (failed and unlinked may be retried).
KEEPS_ITS_ISSUE = frozenset({EscalationState.PENDING, EscalationState.CREATED, EscalationState.LINKED})
LABEL_PREFIX = "supportbridge-escalation-"


def jira_label(escalation_id: int) -> str:
    """The label that names an escalation's Jira issue: how a lost creation is found again. The
    escalation id (not the problem id) survives the escalation following its reports in a merge."""
    return f"{LABEL_PREFIX}{escalation_id}"


class AlreadyEscalated(TriageError):
    def __init__(self, key: str | None, state: str) -> None:
        if key:
            super().__init__(f"This problem is already in Jira as {key}.")
        else:
            super().__init__("This problem is already being escalated to Jira.")
        self.key = key
        self.state = state


class KeyLinkedElsewhere(TriageError):
    def __init__(self, key: str, primary_issue_id: int) -> None:
        super().__init__(f"{key} is already linked to #{primary_issue_id}.")


@dataclass(frozen=True)
class EscalationDetails:
    """What "Escalate with details…" may change; None keeps what the card and configuration say."""

    project: str | None = None
    issue_type: str | None = None
    priority: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class EscalationResult:
    problem_id: int
    state: str
    jira_key: str | None
    changed: bool


def _insert_ignore(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(escalations)


def _escalation(conn: Connection, problem_id: int) -> Any:
    return conn.execute(select(escalations).where(escalations.c.problem_id == problem_id)).first()


def escalate(
    conn: Connection, issue_id: int, actor: str, details: EscalationDetails | None = None
) -> EscalationResult:
    """Ask for the problem's Jira issue. Idempotent: a second request finds the first."""
    issue = load_primary(conn, issue_id)
    problem_id = issue.problem_id
    existing = _escalation(conn, problem_id)
    if details is None and existing is not None and existing.state not in KEEPS_ITS_ISSUE:
        # Retry escalation: what the person chose in "Escalate with details…" stays chosen.
        details = EscalationDetails(
            project=existing.project,
            issue_type=existing.issue_type,
            priority=existing.priority,
            summary=existing.summary,
        )
    details = details or EscalationDetails()
    now = utcnow()
    wanted = {
        "state": EscalationState.PENDING,
        "requested_by": actor,
        "project": details.project,
        "issue_type": details.issue_type,
        "priority": details.priority,
        "summary": details.summary,
        "attempts": 0,
        "last_error": None,
        "updated_at": now,
    }
    if existing is None:
        inserted = conn.execute(
            _insert_ignore(conn)
            .values(problem_id=problem_id, created_at=now, **wanted)
            .on_conflict_do_nothing(index_elements=["problem_id"])
        ).rowcount
        if not inserted:  # someone else's click won, a moment ago
            existing = _escalation(conn, problem_id)
            raise AlreadyEscalated(existing.jira_key, existing.state)
    elif existing.state in KEEPS_ITS_ISSUE:
        raise AlreadyEscalated(existing.jira_key, existing.state)
    else:  # failed or unlinked: this is the retry
        taken = conn.execute(
            update(escalations)
            .where(escalations.c.id == existing.id, escalations.c.state == existing.state)
            .values(jira_key=None, jira_url=None, **wanted)
        ).rowcount
        if not taken:
            raise AlreadyEscalated(None, EscalationState.PENDING)
    escalation_id = _escalation(conn, problem_id).id
    outbox.enqueue_in(
        conn,
        JiraEscalate(escalation_id),
        dedupe_key=f"jira-escalate:{escalation_id}",
    )
    note(conn, issue_id, "escalation_requested", actor, {"retry": existing is not None})
    sync_problem_cards(conn, problem_id)
    refresh_home(conn, actor)
    return EscalationResult(problem_id, EscalationState.PENDING, None, changed=True)


def link_existing(
    conn: Connection, issue_id: int, actor: str, key: str, url: str, snapshot: JiraSnapshot
) -> EscalationResult:
    """Link an issue already in Jira (`key`, as read from Jira when someone links it) instead of
    creating one."""
    issue = load_primary(conn, issue_id)
    problem_id = issue.problem_id
    elsewhere = conn.execute(
        select(escalations.c.problem_id, problems.c.primary_issue_id)
        .join(problems, problems.c.id == escalations.c.problem_id)
        .where(escalations.c.jira_key == key)
    ).first()
    if elsewhere is not None:
        if elsewhere.problem_id == problem_id:
            return EscalationResult(problem_id, EscalationState.LINKED, key, changed=False)
        raise KeyLinkedElsewhere(key, elsewhere.primary_issue_id)
    existing = _escalation(conn, problem_id)
    if existing is not None and existing.state in KEEPS_ITS_ISSUE:
        raise AlreadyEscalated(existing.jira_key, existing.state)
    now = utcnow()
    values = {
        "state": EscalationState.LINKED,
        "jira_key": key,
        "jira_url": url,
        **snapshot.columns(),
        "requested_by": actor,
        "attempts": 0,
        "last_error": None,
        "announced_customers": customers_of(conn, problem_id),
        "updated_at": now,
    }
    if existing is None:
        conn.execute(insert(escalations).values(problem_id=problem_id, created_at=now, **values))
    else:
        conn.execute(update(escalations).where(escalations.c.id == existing.id).values(**values))
    escalation_id = _escalation(conn, problem_id).id
    outbox.enqueue_in(conn, JiraLink(escalation_id), dedupe_key=f"jira-link:{escalation_id}")
    note(conn, issue_id, "escalation_linked", actor, {"key": key})
    sync_problem_cards(conn, problem_id)
    return EscalationResult(problem_id, EscalationState.LINKED, key, changed=True)


# -- What Jira tells us (webhook) -------------------------------------------------------------------


@dataclass(frozen=True)
class JiraUpdateOutcome:
    problem_id: int
    changes: list[tuple[str, str | None, str | None]]
    resolved: bool
    reopened: bool


def apply_jira_update(
    conn: Connection,
    key: str,
    snapshot: JiraSnapshot,
    actor_name: str | None,
    *,
    complete: bool,
    wont_do: bool,
    ask: str | None,
) -> JiraUpdateOutcome | None:
    """A change in Jira: store it, re-render every card of the problem, note it in the problem's
    thread; a resolution closes the loop (customers to tell; a won't-do asks `ask` for a rationale).

    `complete`: the message carried the issue's fields (a partial event carries only its changelog).
    Only then does an absent assignee, resolution or fix version mean "none" rather than "not said";
    an absent status never means "none"."""
    row = conn.execute(
        select(escalations, problems.c.primary_issue_id)
        .join(problems, problems.c.id == escalations.c.problem_id)
        .where(escalations.c.jira_key == key)
    ).first()
    if row is None:
        return None
    if snapshot.older_than(row.jira_updated_at):
        log.debug("older Jira update ignored", extra={"jira_key": key})
        return JiraUpdateOutcome(row.problem_id, [], resolved=False, reopened=False)
    fields: dict[str, Any] = {}
    changes: list[tuple[str, str | None, str | None]] = []

    def compare(label: str, column: str, value: Any, shown: Any = None, was_shown: Any = None) -> None:
        before = getattr(row, column)
        if before != value:
            fields[column] = value
            if label:
                changes.append((label, was_shown if was_shown is not None else before, shown or value))

    columns = snapshot.columns()
    if snapshot.status is not None:
        compare("status", "jira_status", columns["jira_status"])
        compare("", "jira_status_category", columns["jira_status_category"])
    if complete or snapshot.assignee_name is not None:
        compare("assignee", "jira_assignee", columns["jira_assignee"])
        compare("", "jira_assignee_account_id", columns["jira_assignee_account_id"])
        compare("", "jira_assignee_email", columns["jira_assignee_email"])
    if complete or snapshot.resolution is not None:
        compare("resolution", "jira_resolution", columns["jira_resolution"])
    if complete:
        before_versions = list(row.jira_fix_versions or [])
        if before_versions != columns["jira_fix_versions"]:
            fields["jira_fix_versions"] = columns["jira_fix_versions"]
            changes.append(
                ("fix versions", ", ".join(before_versions) or None, ", ".join(snapshot.fix_versions) or None)
            )
    if snapshot.updated_at is not None and snapshot.updated_at != row.jira_updated_at:
        fields_time = {"jira_updated_at": snapshot.updated_at}
    else:
        fields_time = {}
    if not fields:
        if fields_time:
            conn.execute(update(escalations).where(escalations.c.id == row.id).values(**fields_time))
        return JiraUpdateOutcome(row.problem_id, [], resolved=False, reopened=False)
    fields.update(fields_time)
    now = utcnow()
    resolved = "jira_resolution" in fields and fields["jira_resolution"] and not row.jira_resolution
    reopened = "jira_resolution" in fields and not fields["jira_resolution"] and bool(row.jira_resolution)
    if resolved:
        fields["jira_resolved_at"] = now
    elif reopened:
        fields["jira_resolved_at"] = None
    conn.execute(update(escalations).where(escalations.c.id == row.id).values(updated_at=now, **fields))
    refresh_home(conn, row.requested_by)  # "problems you escalated" shows the Jira status
    if changes:
        note(
            conn,
            row.primary_issue_id,
            "jira_updated",
            None,
            {"key": key, "by": actor_name, "changes": [list(c) for c in changes]},
            sync=False,
        )
    if resolved:
        set_problem_status(conn, row.problem_id, "resolved", None)
        outbox.enqueue_in(
            conn,
            CustomerList(row.problem_id),
            dedupe_key=f"customer-list:{row.problem_id}",
        )
        if wont_do:
            target = row.requested_by or ask
            # Two deliveries: one in the thread (anyone may answer), one to the person asked.
            for to in ("thread", "dm") if target else ("thread",):
                outbox.enqueue_in(
                    conn,
                    RationaleRequest(
                        problem_id=row.problem_id, to=to, user=target, key=key, resolution=snapshot.resolution
                    ),
                )
    elif reopened:
        set_problem_status(conn, row.problem_id, "open", None)
    sync_problem_cards(conn, row.problem_id)
    return JiraUpdateOutcome(row.problem_id, changes, bool(resolved), bool(reopened))


def unlink_deleted(conn: Connection, key: str) -> int | None:
    """The Jira issue was deleted: the problem is no longer escalated (and may be escalated again)."""
    row = conn.execute(
        select(escalations.c.id, escalations.c.problem_id, problems.c.primary_issue_id)
        .join(problems, problems.c.id == escalations.c.problem_id)
        .where(escalations.c.jira_key == key)
    ).first()
    if row is None:
        return None
    conn.execute(
        update(escalations)
        .where(escalations.c.id == row.id)
        .values(
            state=EscalationState.UNLINKED,
            jira_key=None,
            jira_url=None,
            jira_status=None,
            jira_status_category=None,
            jira_resolution=None,
            updated_at=utcnow(),
        )
    )
    note(conn, row.primary_issue_id, "jira_deleted", None, {"key": key}, sync=False)
    sync_problem_cards(conn, row.problem_id)
    return int(row.problem_id)


# -- Closing the loop ---------------------------------------------------------------------------------


def mark_notified(conn: Connection, problem_id: int, customer_id: int | None, actor: str) -> int:
    """Record that support told a customer (or, with None, every customer) of the fix. Returns how
    many were newly marked."""
    wanted = customers_of(conn, problem_id)
    if customer_id is not None:
        if customer_id not in wanted:
            raise TriageError("That customer is no longer part of this problem.")
        wanted = [customer_id]
    already = set(
        conn.execute(
            select(customer_notices.c.customer_id).where(customer_notices.c.problem_id == problem_id)
        ).scalars()
    )
    fresh = [c for c in wanted if c not in already]
    if not fresh:
        return 0
    now = utcnow()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(customer_notices)
        .values(
            [
                {"problem_id": problem_id, "customer_id": c, "notified_by": actor, "notified_at": now}
                for c in fresh
            ]
        )
        .on_conflict_do_nothing()
    )
    outbox.enqueue_in(conn, CustomerList(problem_id), dedupe_key=f"customer-list:{problem_id}")
    primary = conn.execute(select(problems.c.primary_issue_id).where(problems.c.id == problem_id)).scalar()
    if primary is not None:
        sync_card(conn, primary)
    return len(fresh)


def store_rationale(conn: Connection, problem_id: int, actor: str, text: str) -> None:
    """The won't-do rationale, written once for support to reuse; posted in the problem's thread."""
    text = text.strip()[:RATIONALE_MAX]
    if not text:
        raise TriageError("The rationale is empty.")
    now = utcnow()
    primary = conn.execute(select(problems.c.primary_issue_id).where(problems.c.id == problem_id)).scalar()
    if primary is None:
        raise TriageError("That problem no longer exists.")
    conn.execute(
        update(problems)
        .where(problems.c.id == problem_id)
        .values(rationale=text, rationale_by=actor, rationale_at=now, updated_at=now)
    )
    note(conn, primary, "rationale", actor, {"text": text, "problem": problem_id}, sync=False)
    sync_problem_cards(conn, problem_id)
    refresh_rationale_requests(conn, problem_id)
    if active_escalation(conn, problem_id) is not None:
        # Those who work in Jira read why too: once, as a comment on the issue.
        outbox.enqueue_in(conn, JiraRationale(problem_id), dedupe_key=f"jira-rationale:{problem_id}")


def escalation_prefill(conn: Connection, config: AppConfig, issue_id: int) -> EscalationDefaults:
    issue = load_primary(conn, issue_id)
    tags = tuple(conn.execute(select(issue_tags.c.tag).where(issue_tags.c.issue_id == issue_id)).scalars())
    route = route_issue(config, RouteFacts(issue.source, issue.product_area, issue.severity, tags))
    priority_map = {str(k): v for k, v in config.jira.priority_map.items()}
    return EscalationDefaults(
        project=route.jira_project or config.jira.project or "",
        issue_type=config.jira.issue_type,
        priority=priority_map.get(issue.severity),
        summary=" ".join(issue.subject.split())[:255],
    )


def rationale_request_prefix(problem_id: int) -> str:
    """The keys under which the rationale requests of a problem are remembered (`posted_messages`)."""
    return f"rationale-request:{problem_id}:"


def refresh_rationale_requests(conn: Connection, problem_id: int) -> None:
    """Re-render each posted request for this problem's rationale (thread and DM): once it is written,
    they show it instead of a "Write the rationale" button."""
    rows = conn.execute(
        select(posted_messages.c.key, posted_messages.c.channel).where(
            posted_messages.c.key.like(rationale_request_prefix(problem_id) + "%")
        )
    ).all()
    for row in rows:
        enqueue_post(
            conn,
            channel=row.channel,
            key=row.key,
            render=PostRenderer.RATIONALE_WRITTEN,
            args={"problem": problem_id},
            edit=True,
        )


def rationale_written(conn: Connection, problem_id: int) -> RationaleWritten | None:
    """The problem's won't-do rationale as written, for the requests that asked for it."""
    row = conn.execute(
        select(
            problems.c.primary_issue_id,
            problems.c.rationale,
            problems.c.rationale_by,
            issues.c.subject,
        )
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .where(problems.c.id == problem_id)
    ).first()
    if row is None or not row.rationale:
        return None
    return RationaleWritten(problem_id, row.primary_issue_id, row.subject, row.rationale, row.rationale_by)


def problem_for_rationale(conn: Connection, problem_id: int) -> tuple[str, str | None] | None:
    row = conn.execute(
        select(issues.c.subject, problems.c.rationale)
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .where(problems.c.id == problem_id)
    ).first()
    return (row.subject, row.rationale) if row is not None else None
