"""Loading what an issue card shows from stored state (and the queries behind its counts)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.views.issue_card import CardCustomer, IssueCard
from db.models import Issue, SlackMessage

CARD = "issue_card"


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


async def problem_counts(session: AsyncSession, problem_id: int) -> tuple[int, int]:
    """(reports, distinct customers) behind a problem: one customer is not twenty."""
    row = (
        await session.execute(
            select(func.count(Issue.id), func.count(func.distinct(Issue.customer_id))).where(
                Issue.problem_id == problem_id
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def load_card_state(session: AsyncSession, issue_id: int) -> CardState | None:
    issue = await session.scalar(
        select(Issue)
        .where(Issue.id == issue_id)
        .options(selectinload(Issue.customer), selectinload(Issue.tags))
    )
    if issue is None:
        return None
    reports, customers = await problem_counts(session, issue.problem_id)
    posted = (
        await session.execute(
            select(SlackMessage.channel, SlackMessage.ts).where(
                SlackMessage.purpose == CARD, SlackMessage.issue_id == issue_id
            )
        )
    ).one_or_none()
    customer = issue.customer
    card = IssueCard(
        issue_id=issue.id,
        subject=issue.subject,
        body=issue.body,
        source=issue.source,
        severity=issue.severity,
        reported_at=issue.reported_at,
        customer=CardCustomer(
            name=customer.name,
            email=customer.email,
            company=customer.company,
            plan=customer.plan,
            slack_user_id=customer.slack_user_id,
            external_id=customer.external_id,
        ),
        product_area=issue.product_area,
        tags=tuple(tag.tag for tag in issue.tags),
        report_count=reports,
        customer_count=customers,
        url=issue.url,
        permalink=issue.permalink,
        reported_by=issue.reported_by,
        status=issue.status,
    )
    origin = (issue.origin_channel, issue.origin_ts) if issue.origin_channel and issue.origin_ts else None
    return CardState(
        card=card,
        channel=issue.channel_id,
        posted=PostedCard(posted.channel, posted.ts) if posted else None,
        origin=origin,
    )
