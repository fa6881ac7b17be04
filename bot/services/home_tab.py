"""What a person's App Home shows, read in one transaction when it is published."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.escalation import EscalationState
from bot.domain.home import ClaimedIssue, Escalated, Home, TopProblem
from bot.services import shadowing as shadow
from bot.services.digest import top_problems
from bot.services.releases import upcoming_releases
from db.models import escalations, issues, problems, utcnow
from db.queries.customers import counted_customer

TOP_PROBLEMS = 5


def load_home(conn: Connection, config: AppConfig, user: str) -> Home:
    now = utcnow()
    home = Home(user=user, shadowing_enabled=bool(config.shadowing.programmes))
    if home.shadowing_enabled:
        home.mine = shadow.sessions_of(conn, config, user, now)
        home.open_sessions = shadow.open_sessions(conn, config, now, limit=16)
    rows = conn.execute(
        select(issues.c.id, issues.c.subject, issues.c.channel_id, issues.c.severity)
        .where(issues.c.claimed_by == user, issues.c.status == "open")
        .order_by(issues.c.claimed_at.desc())
        .limit(10)
    ).all()
    home.claimed = [ClaimedIssue(r.id, r.subject, r.channel_id, r.severity) for r in rows]
    home.releases = upcoming_releases(conn, now, limit=8)
    home.escalated = escalated_by(conn, user)
    home.top = [
        TopProblem(
            line.issue_id, line.title, line.customers, line.customers_before, line.jira_key, line.jira_status
        )
        for line in top_problems(conn, now - timedelta(days=7), now, TOP_PROBLEMS)
    ]
    return home


def escalated_by(conn: Connection, user: str) -> list[Escalated]:
    """The problems this person escalated, newest change first, with their Jira state."""
    customers = (
        select(func.count(distinct(counted_customer(issues))))
        .where(issues.c.problem_id == escalations.c.problem_id)
        .scalar_subquery()
    )
    primary = issues.alias("primary_report")
    rows = conn.execute(
        select(
            primary.c.id,
            primary.c.subject,
            escalations.c.state,
            escalations.c.jira_key,
            escalations.c.jira_url,
            escalations.c.jira_status,
            escalations.c.jira_resolution,
            customers.label("customers"),
        )
        .join(problems, problems.c.id == escalations.c.problem_id)
        .join(primary, primary.c.id == problems.c.primary_issue_id)
        .where(escalations.c.requested_by == user, escalations.c.state != EscalationState.UNLINKED)
        .order_by(escalations.c.updated_at.desc())
        .limit(8)
    ).all()
    return [
        Escalated(
            r.id,
            r.subject,
            r.state,
            r.jira_key,
            r.jira_url,
            r.jira_status,
            r.jira_resolution,
            int(r.customers),
        )
        for r in rows
    ]
