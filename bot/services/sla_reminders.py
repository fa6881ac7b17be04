"""First-response SLA reminders: an unclaimed issue gets a reminder in its thread when its severity's
target is reached, and at twice the target a post mentioning the on-duty group (`schedules.first_response`
checks every `CHECK_SECONDS`).

Any first response stops the clock: claiming, resolving, merging, a person's reply in the card's
thread or a reply to the customer (`bot.services.first_response`). Each reminder is sent once,
even across restarts and with several processes: the issue's `sla_level` is raised with a conditional
update in the same transaction that enqueues the post, so only one process wins each level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.services.routing import RouteFacts, route_issue
from bot.services.triage import note
from bot.sla import SlaTarget, due_at
from db.models import issue_tags, issues, problems

LEVELS = (1, 2)  # the reminder at the target; the on-duty escalation at twice the target


def earliest_elapsed(target: SlaTarget) -> timedelta:
    """A lower bound of the wall time before a target is due (business time only adds to it): lets the
    database skip issues that cannot be due yet."""
    if target.unit == "minutes":
        return timedelta(minutes=target.amount)
    if target.unit in ("hours", "business_hours"):
        return timedelta(hours=target.amount)
    if target.unit == "days":
        return timedelta(days=target.amount)
    return timedelta(0)  # business days: their length depends on the business hours


@dataclass(frozen=True)
class Reminder:
    issue_id: int
    level: int
    target: str


def due_reminders(conn: Connection, config: AppConfig, now: datetime) -> list[Reminder]:
    sla = config.sla
    found: list[Reminder] = []
    for severity, target in sla.targets.items():
        bound = now - earliest_elapsed(target)
        rows = conn.execute(
            select(issues.c.id, issues.c.received_at, issues.c.sla_level)
            .join(problems, problems.c.primary_issue_id == issues.c.id)
            .where(
                issues.c.severity == str(severity),
                issues.c.status == "open",
                problems.c.status == "open",
                issues.c.claimed_by.is_(None),
                issues.c.first_response_at.is_(None),
                issues.c.sla_level < len(LEVELS),
                issues.c.received_at <= bound,
            )
        ).all()
        for row in rows:
            reached = 0
            for level in LEVELS:
                if (
                    level > row.sla_level
                    and due_at(row.received_at, target, config.zone, sla.business_hours, multiple=level)
                    <= now
                ):
                    reached = level
            if reached:
                found.append(Reminder(row.id, reached, str(target)))
    return found


def send_reminders(conn: Connection, config: AppConfig, now: datetime) -> int:
    """Record and enqueue every reminder now due; returns how many."""
    sent = 0
    for reminder in due_reminders(conn, config, now):
        taken = conn.execute(
            update(issues)
            .where(
                issues.c.id == reminder.issue_id,
                issues.c.sla_level < reminder.level,
                issues.c.claimed_by.is_(None),
                issues.c.first_response_at.is_(None),  # a reply in the thread since the check
            )
            .values(sla_level=reminder.level)
        ).rowcount
        if not taken:
            continue
        # Past both marks at once (after downtime): only the escalation is posted, not two notes.
        kind = "sla_escalation" if reminder.level == 2 else "sla_reminder"
        detail: dict[str, Any] = {"target": reminder.target, "group": config.sla.on_duty_group}
        owners = _route_owners(conn, config, reminder.issue_id)
        if owners:
            detail["owners"] = owners
        # The card is re-rendered too: from now on it says how late the first response is.
        note(conn, reminder.issue_id, kind, None, detail)
        sent += 1
    return sent


def _route_owners(conn: Connection, config: AppConfig, issue_id: int) -> list[str]:
    """The owners of the route the issue takes (`routes[].owners`), if it has any."""
    if not any(route.owners for route in config.routes):
        return []
    issue = conn.execute(
        select(issues.c.source, issues.c.product_area, issues.c.severity).where(issues.c.id == issue_id)
    ).first()
    if issue is None:
        return []
    tags = tuple(conn.execute(select(issue_tags.c.tag).where(issue_tags.c.issue_id == issue_id)).scalars())
    decision = route_issue(config, RouteFacts(issue.source, issue.product_area, issue.severity, tags))
    return list(config.routes[decision.route_index].owners) if decision.route_index is not None else []
