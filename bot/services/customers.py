"""Who the customer of a report is: set on a report logged from Slack without one."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.intake import Customer
from bot.services.intake import upsert_customer
from bot.services.triage import (
    TriageResult,
    active_escalation,
    announce_new_customers,
    customers_of,
    load_issue,
    note,
    sync_problem_cards,
)
from db.models import issues, utcnow


def set_customer(
    conn: Connection, config: AppConfig, issue_id: int, actor: str, customer: Customer
) -> TriageResult:
    """Make `customer` the customer of the report: the problem is recounted (distinct customers, and
    so thresholds and the digest) and every card of it re-rendered through the outbox."""
    issue = load_issue(conn, issue_id)
    now = utcnow()
    customer_id = upsert_customer(
        conn,
        {
            "identity_key": customer.key_within(issue.source),
            "source": issue.source,
            "customer_external_id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "company": customer.company,
            "plan": customer.plan,
            "slack_user_id": customer.slack_user_id,
        },
        now,
    )
    if issue.customer_id == customer_id:
        return TriageResult(issue_id, changed=False)
    conn.execute(
        update(issues)
        .where(issues.c.id == issue_id)
        .values(
            customer_id=customer_id,
            counts_as_customer=not config.internal.is_internal_email(customer.email),
            updated_at=now,
        )
    )
    note(conn, issue_id, "customer_set", actor, {"customers": len(customers_of(conn, issue.problem_id))})
    sync_problem_cards(conn, issue.problem_id)
    if active_escalation(conn, issue.problem_id) is not None:
        announce_new_customers(conn, issue.problem_id, config.jira.comment_batch_seconds)
    return TriageResult(issue_id, changed=True)
