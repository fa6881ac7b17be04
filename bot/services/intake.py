"""Intake: one customer report, from any channel, stored once with its pending card.

The issue, its problem, its customer, the delivery id it came with and the outbox entry that will post
its card are committed in one transaction before anyone is told "accepted". Duplicates — the same
`source` + `external_id`, or the same delivery id — resolve to the first issue, even when both arrive at
the same moment: the database's unique constraints decide, and the loser retries and finds the winner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import AppConfig
from bot.domain import IntakeRequest
from bot.services import outbox
from bot.services.routing import RouteFacts, route_issue
from db.models import Customer, InboundDelivery, Issue, IssueEvent, IssueTag, Problem, utcnow
from db.queries import upsert
from db.session import Database

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class IntakeResult:
    issue_id: int
    created: bool


async def find_delivery(session: AsyncSession, key: str) -> int | None:
    """The issue a delivery id already produced, if it was taken before."""
    row = await session.get(InboundDelivery, key)
    return row.issue_id if row is not None else None


async def _find_issue(session: AsyncSession, source: str, external_id: str) -> int | None:
    return await session.scalar(
        select(Issue.id).where(Issue.source == source, Issue.external_id == external_id)
    )


async def _upsert_customer(session: AsyncSession, request: IntakeRequest, now: datetime) -> int:
    """The customer's id, created on first sight. Newer reports fill in what we did not know
    (name, company, plan) and never erase it. One statement, safe under concurrent intake."""
    incoming = request.customer
    key = incoming.identity_key if incoming.email else f"{request.source}:{incoming.identity_key}"
    insert = upsert(session, Customer).values(
        identity_key=key,
        source=request.source,
        external_id=incoming.id,
        name=incoming.name,
        email=incoming.email,
        company=incoming.company,
        plan=incoming.plan,
        slack_user_id=incoming.slack_user_id,
        created_at=now,
        updated_at=now,
    )
    fill_in = {
        column: func.coalesce(insert.excluded[column], getattr(Customer, column))
        for column in ("name", "company", "plan", "slack_user_id")
    }
    statement = insert.on_conflict_do_update(
        index_elements=[Customer.identity_key], set_={**fill_in, "updated_at": now}
    ).returning(Customer.id)
    return int((await session.execute(statement)).scalar_one())


async def _create(
    session: AsyncSession,
    config: AppConfig,
    request: IntakeRequest,
    delivery_key: str | None,
    reported_by: str | None,
    now: datetime,
) -> int:
    # Core statements, not ORM flushes: intake is the hot path (see docs/benchmarks.md).
    customer_id = await _upsert_customer(session, request, now)
    decision = route_issue(
        config,
        RouteFacts(
            source=request.source,
            product_area=request.product_area,
            severity=request.severity.value,
            tags=tuple(request.tags),
        ),
    )
    problem_id = (
        await session.execute(
            insert(Problem)
            .values(title=request.subject, status="open", created_at=now, updated_at=now)
            .returning(Problem.id)
        )
    ).scalar_one()
    issue_id = (
        await session.execute(
            insert(Issue)
            .values(
                source=request.source,
                external_id=request.external_id,
                problem_id=problem_id,
                customer_id=customer_id,
                subject=request.subject,
                body=request.body,
                product_area=request.product_area,
                severity=request.severity.value,
                status="open",
                url=request.url,
                permalink=request.permalink,
                origin_channel=request.origin_channel,
                origin_ts=request.origin_ts,
                channel_id=decision.channel,
                reported_by=reported_by,
                reported_at=request.created_at or now,
                received_at=now,
                updated_at=now,
            )
            .returning(Issue.id)
        )
    ).scalar_one()
    await session.execute(update(Problem).where(Problem.id == problem_id).values(primary_issue_id=issue_id))
    if request.tags:
        await session.execute(insert(IssueTag), [{"issue_id": issue_id, "tag": tag} for tag in request.tags])
    await session.execute(
        insert(IssueEvent).values(
            issue_id=issue_id,
            kind="reported",
            actor=reported_by,
            detail={"source": request.source, "channel": decision.channel, "route": decision.route_index},
            created_at=now,
        )
    )
    if delivery_key:
        await session.execute(
            insert(InboundDelivery).values(key=delivery_key, issue_id=issue_id, received_at=now)
        )
    await outbox.enqueue(
        session, outbox.SYNC_CARD, {"issue_id": issue_id}, dedupe_key=f"card:{issue_id}", new=True
    )
    return int(issue_id)


async def _confirm(
    session: AsyncSession, confirm_to: tuple[str, str] | None, issue_id: int, created: bool
) -> None:
    """Queue the private "logged as #N" note for the Slack user who logged it, in the same transaction."""
    if confirm_to is None:
        return
    channel, user = confirm_to
    await outbox.enqueue(
        session,
        outbox.EPHEMERAL,
        {
            "note": "intake_confirmation",
            "issue_id": issue_id,
            "created": created,
            "channel": channel,
            "user": user,
        },
    )


async def ingest_issue(
    database: Database,
    config: AppConfig,
    request: IntakeRequest,
    *,
    delivery_key: str | None = None,
    reported_by: str | None = None,
    confirm_to: tuple[str, str] | None = None,
) -> IntakeResult:
    """Store a report (or find the one it repeats). Raises `DatabaseUnavailable` when the database
    cannot be reached: the caller must then not claim success."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            async with database.session() as session:
                if delivery_key:
                    seen = await find_delivery(session, delivery_key)
                    if seen is not None:
                        await _confirm(session, confirm_to, seen, created=False)
                        return IntakeResult(seen, created=False)
                existing = await _find_issue(session, request.source, request.external_id)
                if existing is not None:
                    if delivery_key:
                        session.add(InboundDelivery(key=delivery_key, issue_id=existing))
                    await _confirm(session, confirm_to, existing, created=False)
                    return IntakeResult(existing, created=False)
                issue_id = await _create(session, config, request, delivery_key, reported_by, utcnow())
                await _confirm(session, confirm_to, issue_id, created=True)
            log.info(
                "issue received",
                extra={"issue_id": issue_id, "source": request.source, "severity": request.severity.value},
            )
            return IntakeResult(issue_id, created=True)
        except IntegrityError:
            # Another request stored the same issue, delivery or customer first: look again.
            log.debug("intake conflict, retrying", extra={"attempt": attempt + 1})
    raise RuntimeError(f"intake of {request.source}/{request.external_id} kept conflicting")
