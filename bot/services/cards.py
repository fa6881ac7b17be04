"""Loading what an issue card shows from stored state (and the queries behind its counts).

Synchronous Core on a Connection: it runs inside `Database.transaction` on the delivery hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.engine import Connection

from bot.views.issue_card import CardCustomer, IssueCard
from db.models import customers, issue_tags, issues, slack_messages

CARD = "issue_card"

_same_problem = issues.alias("same_problem")
REPORTS = (
    select(func.count(_same_problem.c.id))
    .where(_same_problem.c.problem_id == issues.c.problem_id)
    .scalar_subquery()
)
DISTINCT_CUSTOMERS = (
    select(func.count(distinct(_same_problem.c.customer_id)))
    .where(_same_problem.c.problem_id == issues.c.problem_id)
    .scalar_subquery()
)
CARD_ROW = select(
    issues,
    customers.c.name.label("customer_name"),
    customers.c.email.label("customer_email"),
    customers.c.company.label("customer_company"),
    customers.c.plan.label("customer_plan"),
    customers.c.slack_user_id.label("customer_slack_user_id"),
    customers.c.external_id.label("customer_external_id"),
    slack_messages.c.channel.label("posted_channel"),
    slack_messages.c.ts.label("posted_ts"),
    REPORTS.label("report_count"),
    DISTINCT_CUSTOMERS.label("customer_count"),
).select_from(
    issues.join(customers, customers.c.id == issues.c.customer_id).outerjoin(
        slack_messages, and_(slack_messages.c.issue_id == issues.c.id, slack_messages.c.purpose == CARD)
    )
)
TAGS = select(issue_tags.c.tag).order_by(issue_tags.c.tag)


@dataclass(frozen=True)
class PostedCard:
    channel: str
    ts: str


@dataclass(frozen=True)
class CardState:
    card: IssueCard
    channel: str
    posted: PostedCard | None
    origin: tuple[str, str] | None  # (channel, ts) of the Slack message it was logged from


def load_card_state(conn: Connection, issue_id: int) -> CardState | None:
    row = conn.execute(CARD_ROW.where(issues.c.id == issue_id)).one_or_none()
    if row is None:
        return None
    tags = tuple(conn.execute(TAGS.where(issue_tags.c.issue_id == issue_id)).scalars())
    card = IssueCard(
        issue_id=row.id,
        subject=row.subject,
        body=row.body,
        source=row.source,
        severity=row.severity,
        reported_at=row.reported_at,
        customer=CardCustomer(
            name=row.customer_name,
            email=row.customer_email,
            company=row.customer_company,
            plan=row.customer_plan,
            slack_user_id=row.customer_slack_user_id,
            external_id=row.customer_external_id,
        ),
        product_area=row.product_area,
        tags=tags,
        report_count=int(row.report_count),
        customer_count=int(row.customer_count),
        url=row.url,
        permalink=row.permalink,
        reported_by=row.reported_by,
        status=row.status,
        claimed_by=row.claimed_by,
        resolved_by=row.resolved_by,
    )
    origin = (row.origin_channel, row.origin_ts) if row.origin_channel and row.origin_ts else None
    posted = PostedCard(row.posted_channel, row.posted_ts) if row.posted_ts else None
    return CardState(card=card, channel=row.channel_id, posted=posted, origin=origin)
