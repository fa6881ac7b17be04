"""What a person's App Home shows, read in one transaction when it is published."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.escalation import EscalationState
from bot.domain.home import ClaimedIssue, Escalated, Home, LeadView, TopProblem, UrgentProblem
from bot.domain.intake import Severity
from bot.services import shadowing as shadow
from bot.services.digest import backlog, top_problems
from bot.services.releases import upcoming_releases
from db.models import escalations, issue_events, issues, problems, utcnow
from db.queries.customers import counted_customer

TOP_PROBLEMS = 5
WEEK = timedelta(days=7)
URGENT_LISTED = 8  # with links, well within a section's 3000 characters
SLA_BREACH_EVENTS = ("sla_reminder", "sla_escalation")
LEAD_BACKLOG_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under 1 day", timedelta(days=1)),
    ("1\u20133 days", timedelta(days=3)),
    ("3\u20137 days", timedelta(days=7)),
    ("over 7 days", None),
)


def load_home(conn: Connection, config: AppConfig, user: str, *, lead: bool = False) -> Home:
    """`lead`: the person is in `leads_group`, so the lead view is loaded too."""
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
    home.escalated = escalated_by(conn, user, config)
    home.top = [
        TopProblem(
            line.issue_id,
            line.title,
            line.customers,
            line.customers_before,
            line.jira_key,
            line.jira_status,
            line.wont_do,
        )
        for line in top_problems(conn, now - WEEK, now, TOP_PROBLEMS, config.jira.is_wont_do)
    ]
    if lead:
        home.lead = lead_view(conn, now)
    return home


def lead_view(conn: Connection, now: datetime) -> LeadView:
    """The open backlog by age, the SLA breaches of the last 7 days (as the digest counts them: an
    issue whose first-response target passed unanswered, so its reminder fired) and the open urgent
    problems nobody has claimed, oldest first."""
    breaches = conn.execute(
        select(func.count(distinct(issue_events.c.issue_id))).where(
            issue_events.c.kind.in_(SLA_BREACH_EVENTS),
            issue_events.c.created_at >= now - WEEK,
            issue_events.c.created_at < now,
        )
    ).scalar()
    member = issues.alias("member")
    claimed = (
        select(member.c.id)
        .where(member.c.problem_id == problems.c.id, member.c.claimed_by.is_not(None))
        .exists()
    )
    urgent = (
        select(issues.c.id, issues.c.subject, issues.c.channel_id, issues.c.received_at)
        .join(problems, problems.c.primary_issue_id == issues.c.id)
        .where(problems.c.status == "open", issues.c.severity == Severity.URGENT, ~claimed)
    )
    total = conn.execute(select(func.count()).select_from(urgent.subquery())).scalar()
    rows = conn.execute(urgent.order_by(issues.c.received_at, issues.c.id).limit(URGENT_LISTED)).all()
    return LeadView(
        backlog=backlog(conn, now, LEAD_BACKLOG_BUCKETS).buckets,
        sla_breaches=int(breaches or 0),
        unclaimed_urgent=tuple(UrgentProblem(r.id, r.subject, r.channel_id, r.received_at) for r in rows),
        unclaimed_urgent_total=int(total or 0),
    )


def escalated_by(conn: Connection, user: str, config: AppConfig) -> list[Escalated]:
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
            config.jira.is_wont_do(r.jira_resolution),
        )
        for r in rows
    ]
