"""Triage on the card: claim, release, resolve, reopen, severity and tags — by anyone in the channel.

Each action changes the issue, records who did what (an issue event), asks for the card to be
re-rendered from stored state and for a note in its thread, all in one transaction. No Slack here:
the outbox does the posting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from bot.domain import Severity
from bot.services import outbox
from db.models import issue_events, issue_tags, issues, utcnow
from db.session import Database


class TriageError(Exception):
    """An action that cannot be done; the message is shown to the person who clicked."""


class IssueNotFound(TriageError):
    def __init__(self, issue_id: int) -> None:
        super().__init__(f"Issue #{issue_id} no longer exists.")


class AlreadyClaimed(TriageError):
    def __init__(self, issue_id: int, by: str) -> None:
        super().__init__(f"<@{by}> is already on #{issue_id}.")
        self.by = by


@dataclass(frozen=True)
class TriageResult:
    issue_id: int
    changed: bool  # False when the click asked for what already was (a double click)


def _note(conn: Connection, issue_id: int, kind: str, actor: str, detail: dict[str, Any]) -> None:
    now = utcnow()
    event_id = conn.execute(
        insert(issue_events)
        .values(issue_id=issue_id, kind=kind, actor=actor, detail=detail, created_at=now)
        .returning(issue_events.c.id)
    ).scalar_one()
    outbox.enqueue_in(conn, outbox.SYNC_CARD, {"issue_id": issue_id}, dedupe_key=f"card:{issue_id}")
    outbox.enqueue_in(conn, outbox.THREAD_NOTE, {"event_id": event_id})


def _load(conn: Connection, issue_id: int) -> Any:
    # On PostgreSQL, lock the row: two people clicking at once are serialized (SQLite writes already are).
    query = select(issues).where(issues.c.id == issue_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise IssueNotFound(issue_id)
    return row


def claim(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = _load(conn, issue_id)
    if issue.claimed_by == actor:
        return TriageResult(issue_id, changed=False)
    if issue.claimed_by:
        raise AlreadyClaimed(issue_id, issue.claimed_by)
    now = utcnow()
    values: dict[str, Any] = {"claimed_by": actor, "claimed_at": now, "updated_at": now}
    if issue.first_response_at is None:
        values["first_response_at"] = now  # the first time anyone took it: the first response
    conn.execute(update(issues).where(issues.c.id == issue_id).values(**values))
    _note(conn, issue_id, "claimed", actor, {})
    return TriageResult(issue_id, changed=True)


def release(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = _load(conn, issue_id)
    if not issue.claimed_by:
        return TriageResult(issue_id, changed=False)
    conn.execute(
        update(issues)
        .where(issues.c.id == issue_id)
        .values(claimed_by=None, claimed_at=None, updated_at=utcnow())
    )
    _note(conn, issue_id, "released", actor, {"was": issue.claimed_by})
    return TriageResult(issue_id, changed=True)


def resolve(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = _load(conn, issue_id)
    if issue.status == "resolved":
        return TriageResult(issue_id, changed=False)
    now = utcnow()
    values: dict[str, Any] = {
        "status": "resolved",
        "resolved_at": now,
        "resolved_by": actor,
        "updated_at": now,
    }
    if issue.first_response_at is None:
        values["first_response_at"] = now
    conn.execute(update(issues).where(issues.c.id == issue_id).values(**values))
    _note(conn, issue_id, "resolved", actor, {})
    return TriageResult(issue_id, changed=True)


def reopen(conn: Connection, issue_id: int, actor: str) -> TriageResult:
    issue = _load(conn, issue_id)
    if issue.status != "resolved":
        return TriageResult(issue_id, changed=False)
    conn.execute(
        update(issues)
        .where(issues.c.id == issue_id)
        .values(status="open", resolved_at=None, resolved_by=None, updated_at=utcnow())
    )
    _note(conn, issue_id, "reopened", actor, {})
    return TriageResult(issue_id, changed=True)


def set_severity(conn: Connection, issue_id: int, actor: str, severity: str) -> TriageResult:
    value = Severity(severity).value  # ValueError for anything else: the select offers only these
    issue = _load(conn, issue_id)
    if issue.severity == value:
        return TriageResult(issue_id, changed=False)
    conn.execute(update(issues).where(issues.c.id == issue_id).values(severity=value, updated_at=utcnow()))
    _note(conn, issue_id, "severity", actor, {"from": issue.severity, "to": value})
    return TriageResult(issue_id, changed=True)


def set_tags(
    conn: Connection, issue_id: int, actor: str, tags: list[str], allowed: list[str]
) -> TriageResult:
    _load(conn, issue_id)
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
    _note(conn, issue_id, "tags", actor, {"added": added, "removed": removed})
    return TriageResult(issue_id, changed=True)


async def run(database: Database, action: Any, *args: Any) -> TriageResult:
    """Run one triage action in its own transaction."""
    return await database.transaction(lambda conn: action(conn, *args))
