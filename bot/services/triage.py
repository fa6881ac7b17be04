"""Triage on the card: claim, release, resolve, reopen, severity, tags, merge and unmerge — by anyone
in the channel.

Each action changes the issue, records who did what (an issue event), asks for the card to be
re-rendered from stored state and for a note in its thread, all in one transaction. No Slack here:
the outbox does the posting.

A problem's card is the card of its primary issue (the report that started it). Reports merged into a
problem keep their own cards, which then point at the problem; claiming, resolving and escalating are
done on the problem's card, and resolving it resolves every report in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from bot import metrics
from bot.config import AppConfig
from bot.domain.errors import DomainError
from bot.domain.escalation import ACTIVE_STATES
from bot.domain.intake import Severity
from bot.domain.outbox import AutoMergeNote, JiraNewCustomers, PostRenderer, SyncCard, ThreadNote
from bot.services import outbox
from bot.services.home import refresh_claimers, refresh_home
from bot.services.posts import enqueue_post
from bot.services.routing import RouteFacts, route_issue
from db.models import escalations, issue_events, issue_tags, issues, problems, utcnow
from db.queries.customers import counts
from db.session import Database


class TriageError(DomainError):
    """An action that cannot be done; the message is shown to the person who clicked."""


class IssueNotFound(TriageError):
    def __init__(self, issue_id: int) -> None:
        super().__init__(f"Issue #{issue_id} no longer exists.")


class AlreadyClaimed(TriageError):
    def __init__(self, issue_id: int, by: str) -> None:
        super().__init__(f"<@{by}> is already on #{issue_id}.")
        self.by = by


class PartOfProblem(TriageError):
    def __init__(self, issue_id: int, primary_issue_id: int) -> None:
        super().__init__(
            f"#{issue_id} is merged into #{primary_issue_id}: do this on #{primary_issue_id}'s card, "
            f"or unmerge #{issue_id} first."
        )
        self.primary_issue_id = primary_issue_id


class CannotMerge(TriageError):
    """A merge or unmerge that makes no sense (the message says why)."""


@dataclass(frozen=True)
class TriageResult:
    issue_id: int
    changed: bool  # False when the click asked for what already was (a double click)


def sync_card(conn: Connection, issue_id: int) -> None:
    """Ask for the issue's card to be re-rendered from stored state (coalesced while pending)."""
    outbox.enqueue_in(conn, SyncCard(issue_id), dedupe_key=f"card:{issue_id}")


def sync_problem_cards(conn: Connection, problem_id: int) -> None:
    """Every card showing this problem: its own and those of the reports merged into it."""
    for issue_id in conn.execute(select(issues.c.id).where(issues.c.problem_id == problem_id)).scalars():
        sync_card(conn, issue_id)


def note(
    conn: Connection,
    issue_id: int,
    kind: str,
    actor: str | None,
    detail: dict[str, Any],
    *,
    sync: bool = True,
) -> int:
    """Record who did what on an issue; its card is re-rendered and the thread gets a note."""
    now = utcnow()
    event_id = conn.execute(
        insert(issue_events)
        .values(issue_id=issue_id, kind=kind, actor=actor, detail=detail, created_at=now)
        .returning(issue_events.c.id)
    ).scalar_one()
    if sync:
        sync_card(conn, issue_id)
    outbox.enqueue_in(conn, ThreadNote(event_id))
    return int(event_id)


def load_issue(conn: Connection, issue_id: int) -> Any:
    # On PostgreSQL, lock the row: two people clicking at once are serialized (SQLite writes already are).
    query = select(issues).where(issues.c.id == issue_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise IssueNotFound(issue_id)
    return row


def _load_problem(conn: Connection, problem_id: int) -> Any:
    query = select(problems).where(problems.c.id == problem_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).one()


def load_primary(conn: Connection, issue_id: int) -> Any:
    """The issue, which must be its problem's own card (claiming, resolving act on the problem)."""
    issue = load_issue(conn, issue_id)
    primary = conn.execute(
        select(problems.c.primary_issue_id).where(problems.c.id == issue.problem_id)
    ).scalar_one()
    if primary is not None and primary != issue_id:
        raise PartOfProblem(issue_id, primary)
    return issue


def claim(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = load_primary(conn, issue_id)
    if issue.claimed_by == actor:
        return TriageResult(issue_id, changed=False)
    if issue.claimed_by:
        raise AlreadyClaimed(issue_id, issue.claimed_by)
    now = utcnow()
    values: dict[str, Any] = {"claimed_by": actor, "claimed_at": now, "updated_at": now}
    if issue.first_response_at is None:
        values["first_response_at"] = now  # the first time anyone took it: the first response
        values["first_response_by"] = actor
        # Observed in the transaction that records it: a rolled-back claim is retried and counted then.
        metrics.observe_since(issue.received_at, issue.severity, metrics.FIRST_RESPONSE_SECONDS)
    conn.execute(update(issues).where(issues.c.id == issue_id).values(**values))
    note(conn, issue_id, "claimed", actor, {})
    refresh_home(conn, actor)
    return TriageResult(issue_id, changed=True)


def release(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = load_primary(conn, issue_id)
    if not issue.claimed_by:
        return TriageResult(issue_id, changed=False)
    conn.execute(
        update(issues)
        .where(issues.c.id == issue_id)
        .values(claimed_by=None, claimed_at=None, updated_at=utcnow())
    )
    event_id = note(conn, issue_id, "released", actor, {"was": issue.claimed_by})
    refresh_home(conn, issue.claimed_by)
    if issue.claimed_by != actor:
        # Someone else let go of their claim: they hear it from the bot, not by surprise.
        enqueue_post(
            conn,
            channel=issue.claimed_by,
            key=f"claim-released:{event_id}",
            render=PostRenderer.CLAIM_RELEASED,
            args={"issue": issue_id, "actor": actor},
        )
    return TriageResult(issue_id, changed=True)


def resolve(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = load_primary(conn, issue_id)
    if issue.status == "resolved":
        return TriageResult(issue_id, changed=False)
    set_problem_status(conn, issue.problem_id, "resolved", actor)
    if issue.first_response_at is None:
        metrics.observe_since(issue.received_at, issue.severity, metrics.FIRST_RESPONSE_SECONDS)
    metrics.observe_since(issue.received_at, issue.severity, metrics.RESOLUTION_SECONDS)
    note(conn, issue_id, "resolved", actor, {})
    sync_problem_cards(conn, issue.problem_id)
    refresh_claimers(conn, issue.problem_id)
    return TriageResult(issue_id, changed=True)


def reopen(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = load_primary(conn, issue_id)
    if issue.status != "resolved":
        return TriageResult(issue_id, changed=False)
    set_problem_status(conn, issue.problem_id, "open", actor)
    note(conn, issue_id, "reopened", actor, {})
    sync_problem_cards(conn, issue.problem_id)
    refresh_claimers(conn, issue.problem_id)
    return TriageResult(issue_id, changed=True)


def _first_responder(actor: str | None) -> Any:
    """Who gave the first response, for rows this update gives one: the one already recorded stays."""
    return case((issues.c.first_response_at.is_(None), actor), else_=issues.c.first_response_by)


def set_problem_status(conn: Connection, problem_id: int, status: str, actor: str | None) -> None:
    """Resolve or reopen a problem and every report in it."""
    now = utcnow()
    if status == "resolved":
        conn.execute(
            update(issues)
            .where(issues.c.problem_id == problem_id, issues.c.status != "resolved")
            .values(
                status="resolved",
                resolved_at=now,
                resolved_by=actor,
                first_response_at=func.coalesce(issues.c.first_response_at, now),
                first_response_by=_first_responder(actor),
                updated_at=now,
            )
        )
        conn.execute(
            update(problems)
            .where(problems.c.id == problem_id)
            .values(status="resolved", resolved_at=now, updated_at=now)
        )
    else:
        conn.execute(
            update(issues)
            .where(issues.c.problem_id == problem_id, issues.c.status == "resolved")
            .values(status="open", resolved_at=None, resolved_by=None, updated_at=now)
        )
        conn.execute(
            update(problems)
            .where(problems.c.id == problem_id)
            .values(status="open", resolved_at=None, updated_at=now)
        )


def active_escalation(conn: Connection, problem_id: int) -> Any:
    return conn.execute(
        select(escalations).where(
            escalations.c.problem_id == problem_id, escalations.c.state.in_(ACTIVE_STATES)
        )
    ).first()


def merge(
    conn: Connection, issue_id: int, actor: str, target_problem_id: int, batch_seconds: float = 60
) -> TriageResult:
    """ "Same problem as…": this report — with any reports already merged into it — joins the target
    problem. The problem's card then counts its distinct customers; this card points at it."""
    issue = load_issue(conn, issue_id)
    source = _load_problem(conn, issue.problem_id)
    if source.primary_issue_id != issue_id:
        raise CannotMerge(
            f"#{issue_id} is already part of #{source.primary_issue_id}; unmerge it first to move it."
        )
    if target_problem_id == source.id:
        return TriageResult(issue_id, changed=False)
    target_query = select(problems).where(problems.c.id == target_problem_id)
    if conn.dialect.name == "postgresql":
        target_query = target_query.with_for_update()
    target = conn.execute(target_query).first()
    if target is None or target.status == "merged":
        raise CannotMerge("That problem no longer exists as such (it was merged elsewhere); pick another.")
    if target.status != "open":
        raise CannotMerge(f"#{target.primary_issue_id} is resolved; reopen it first to merge into it.")
    source_jira, target_jira = (active_escalation(conn, p) for p in (source.id, target.id))
    if source_jira is not None and target_jira is not None:
        raise CannotMerge(
            f"Both are escalated to Jira ({source_jira.jira_key or 'pending'} and "
            f"{target_jira.jira_key or 'pending'}); close one in Jira as a duplicate instead."
        )
    now = utcnow()
    moved = list(conn.execute(select(issues.c.id).where(issues.c.problem_id == source.id)).scalars())
    conn.execute(
        update(issues)
        .where(issues.c.problem_id == source.id)
        .values(
            problem_id=target.id,
            # Someone looked at it and placed it: that is a first response.
            first_response_at=func.coalesce(issues.c.first_response_at, now),
            first_response_by=_first_responder(actor),
            updated_at=now,
        )
    )
    conn.execute(update(problems).where(problems.c.id == source.id).values(status="merged", updated_at=now))
    conn.execute(update(problems).where(problems.c.id == target.id).values(updated_at=now))
    if source_jira is not None:
        # The Jira issue follows the reports: the problem they joined is now the escalated one.
        conn.execute(
            update(escalations)
            .where(escalations.c.id == source_jira.id)
            .values(problem_id=target.id, updated_at=now)
        )
    note(conn, issue_id, "merged", actor, {"into": target.primary_issue_id, "problem": target.id})
    note(
        conn,
        target.primary_issue_id,
        "merged_in",
        actor,
        {"issues": moved, "customers": len(customers_of(conn, target.id))},
    )
    sync_problem_cards(conn, target.id)
    if source_jira is not None or target_jira is not None:
        announce_new_customers(conn, target.id, batch_seconds)
    return TriageResult(issue_id, changed=True)


AUTO_MERGED = "auto_merged"


def auto_merge(
    conn: Connection,
    issue_id: int,
    matched_issue_id: int,
    confidence: float,
    batch_seconds: float,
) -> bool:
    """A new report whose best match is at `matching.auto_merge` or above joins that problem before
    it gets a card of its own. False (and nothing changed) when it cannot: the report was placed by
    someone already, or the problem is no longer open. Unmerge (from the thread's line) undoes it.
    Its thread line and its problem's card edit wait `batch_seconds` for others to join them.

    The match is a report (`matched_issue_id`), not a problem: in a storm, the report matched may have
    joined a problem itself a moment ago, and this one follows it there."""
    issue = load_issue(conn, issue_id)
    source = _load_problem(conn, issue.problem_id)
    if source.primary_issue_id != issue_id or source.status != "open":
        return False
    target = None
    # The matched report's problem may be joining another one this moment (a storm, on PostgreSQL's
    # concurrent transactions): once its row lock is had, a merged problem sends this report on to
    # where the matched report went (each statement reads what has committed), a few hops at most.
    for _ in range(3):
        target_problem_id = conn.execute(
            select(issues.c.problem_id).where(issues.c.id == matched_issue_id)
        ).scalar()
        if target_problem_id is None or target_problem_id == source.id:
            return False
        target_query = select(problems).where(problems.c.id == target_problem_id)
        if conn.dialect.name == "postgresql":
            target_query = target_query.with_for_update()
        target = conn.execute(target_query).first()
        if target is None or target.status != "merged":
            break
    if target is None or target.status != "open" or active_escalation(conn, source.id) is not None:
        return False
    now = utcnow()
    # With any reports that joined it a moment ago (a storm): the whole problem moves, as with merge.
    moved = list(conn.execute(select(issues.c.id).where(issues.c.problem_id == source.id)).scalars())
    conn.execute(
        update(issues).where(issues.c.problem_id == source.id).values(problem_id=target.id, updated_at=now)
    )
    conn.execute(update(problems).where(problems.c.id == source.id).values(status="merged", updated_at=now))
    conn.execute(update(problems).where(problems.c.id == target.id).values(updated_at=now))
    conn.execute(
        insert(issue_events).values(
            issue_id=issue_id,
            kind=AUTO_MERGED,
            actor=None,
            detail={
                "into": target.primary_issue_id,
                "problem": target.id,
                "confidence": round(confidence, 3),
            },
            created_at=now,
        )
    )
    outbox.enqueue_in(
        conn, AutoMergeNote(target.id), dedupe_key=f"auto-merge-note:{target.id}", delay=batch_seconds
    )
    others = conn.execute(
        select(issues.c.id).where(issues.c.problem_id == target.id, issues.c.id.not_in(moved))
    ).scalars()
    for other in others:
        outbox.enqueue_in(conn, SyncCard(other), dedupe_key=f"card:{other}", delay=batch_seconds)
    if active_escalation(conn, target.id) is not None:
        announce_new_customers(conn, target.id)
    return True


def unmerge(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    """Take a merged report out of its problem again, back to a problem of its own."""
    issue = load_issue(conn, issue_id)
    current = _load_problem(conn, issue.problem_id)
    if current.primary_issue_id == issue_id:
        return TriageResult(issue_id, changed=False)  # not merged (a second click)
    now = utcnow()
    home = conn.execute(select(problems.c.id).where(problems.c.primary_issue_id == issue_id)).scalar()
    status = "resolved" if issue.status == "resolved" else "open"
    if home is None:
        home = conn.execute(
            insert(problems)
            .values(
                title=issue.subject, status=status, primary_issue_id=issue_id, created_at=now, updated_at=now
            )
            .returning(problems.c.id)
        ).scalar_one()
    else:
        conn.execute(update(problems).where(problems.c.id == home).values(status=status, updated_at=now))
    conn.execute(update(issues).where(issues.c.id == issue_id).values(problem_id=home, updated_at=now))
    conn.execute(update(problems).where(problems.c.id == current.id).values(updated_at=now))
    note(conn, issue_id, "unmerged", actor, {"from": current.primary_issue_id})
    note(
        conn,
        current.primary_issue_id,
        "unmerged_out",
        actor,
        {"issue": issue_id, "customers": len(customers_of(conn, current.id))},
    )
    sync_problem_cards(conn, current.id)
    merged_at_intake = conn.execute(
        select(issue_events.c.detail).where(
            issue_events.c.issue_id == issue_id, issue_events.c.kind == AUTO_MERGED
        )
    ).scalar()
    batch = (merged_at_intake or {}).get("batch")
    if isinstance(batch, int):
        # Its "+1 from …" line in the problem's thread now says it was unmerged, without the button.
        outbox.enqueue_in(
            conn, AutoMergeNote(current.id, batch=batch), dedupe_key=f"auto-merge-note:{current.id}:{batch}"
        )
    return TriageResult(issue_id, changed=True)


def customers_of(conn: Connection, problem_id: int) -> list[int]:
    """The distinct customers behind a problem (across every merged report), first reporter first."""
    return list(
        conn.execute(
            select(issues.c.customer_id)
            .where(issues.c.problem_id == problem_id, counts(issues))
            .group_by(issues.c.customer_id)
            .order_by(func.min(issues.c.id))
        ).scalars()
    )


def announce_new_customers(conn: Connection, problem_id: int, batch_seconds: float = 60) -> None:
    """Tell the problem's Jira issue about customers merged in: one comment per batch window."""
    outbox.enqueue_in(
        conn,
        JiraNewCustomers(problem_id),
        dedupe_key=f"jira-customers:{problem_id}",
        delay=batch_seconds,
    )


SEVERITY_ORDER = [s.value for s in Severity]


def set_severity(
    conn: Connection, issue_id: int, actor: str, severity: str, config: AppConfig | None = None
) -> TriageResult:
    """Change the severity. Raised so that its route is another channel (say, to urgent), the card
    stays where it is and that channel gets a pointer to it: a card never moves silently. Lowering
    says nothing more than the thread's note."""
    value = Severity(severity).value  # ValueError for anything else: the select offers only these
    issue = load_issue(conn, issue_id)
    if issue.severity == value:
        return TriageResult(issue_id, changed=False)
    conn.execute(update(issues).where(issues.c.id == issue_id).values(severity=value, updated_at=utcnow()))
    note(conn, issue_id, "severity", actor, {"from": issue.severity, "to": value})
    raised = SEVERITY_ORDER.index(value) > SEVERITY_ORDER.index(issue.severity)
    if config is not None and raised:
        tags = tuple(
            conn.execute(select(issue_tags.c.tag).where(issue_tags.c.issue_id == issue_id)).scalars()
        )
        route = route_issue(config, RouteFacts(issue.source, issue.product_area, value, tags))
        if route.channel != issue.channel_id:
            enqueue_post(
                conn,
                channel=route.channel,
                key=f"severity-pointer:{issue_id}:{value}",
                render=PostRenderer.SEVERITY_POINTER,
                args={"issue": issue_id, "actor": actor, "severity": value},
            )
    return TriageResult(issue_id, changed=True)


def set_tags(
    conn: Connection, issue_id: int, actor: str, tags: list[str], allowed: list[str]
) -> TriageResult:
    load_issue(conn, issue_id)
    current = set(conn.execute(select(issue_tags.c.tag).where(issue_tags.c.issue_id == issue_id)).scalars())
    # Only the taxonomy can be added; tags the issue came with (from a helpdesk) may stay.
    wanted = {t.strip().lower() for t in tags if t.strip().lower() in allowed or t.strip().lower() in current}
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if not added and not removed:
        return TriageResult(issue_id, changed=False)
    if removed:
        conn.execute(
            delete(issue_tags).where(issue_tags.c.issue_id == issue_id, issue_tags.c.tag.in_(removed))
        )
    if added:
        conn.execute(insert(issue_tags), [{"issue_id": issue_id, "tag": t} for t in added])
    conn.execute(update(issues).where(issues.c.id == issue_id).values(updated_at=utcnow()))
    note(conn, issue_id, "tags", actor, {"added": added, "removed": removed})
    return TriageResult(issue_id, changed=True)


async def run(database: Database, action: Any, *args: Any) -> TriageResult:
    """Run one triage action in its own transaction."""
    return await database.transaction(lambda conn: action(conn, *args))
