"""The intake service on SQLite and PostgreSQL: storing, deduplicating, routing, counting customers."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from bot.domain.intake import IntakeRequest
from bot.services.cards import load_card_state
from bot.services.intake import ingest_issue
from db.models import Customer, InboundDelivery, Issue, IssueEvent, OutboxItem, Problem
from db.session import Database
from tests.conftest import CHANNEL_BILLING, CHANNEL_DEFAULT, CHANNEL_URGENT


def make_request(**overrides: Any) -> IntakeRequest:
    data: dict[str, Any] = {
        "external_id": "T-1",
        "source": "webform",
        "subject": "Cannot export invoices",
        "body": "The export button does nothing.",
        "customer": {"id": "cust-1", "name": "Dana", "email": "dana@acme.test", "company": "Acme"},
        "tags": ["bug"],
    }
    data.update(overrides)
    return IntakeRequest.model_validate(data)


async def count(database: Database, model: Any) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_new_issue_is_stored_with_its_problem_customer_event_and_pending_card(
    database: Database, make_config: Any
) -> None:
    result = await ingest_issue(database, make_config(), make_request(), delivery_key="intake:webhook:msg_1")
    assert result.created
    async with database.session() as session:
        issue = await session.get(Issue, result.issue_id)
        assert issue is not None
        problem = await session.get(Problem, issue.problem_id)
        assert problem is not None and problem.primary_issue_id == issue.id and problem.title == issue.subject
        assert issue.channel_id == CHANNEL_DEFAULT
        events = list(await session.scalars(select(IssueEvent.kind).where(IssueEvent.issue_id == issue.id)))
        assert events == ["reported"]
        outbox = list(await session.scalars(select(OutboxItem)))
        assert [(o.kind, o.payload, o.status) for o in outbox] == [
            ("sync_card", {"v": 1, "issue_id": issue.id}, "pending")
        ]
        assert (await session.get(InboundDelivery, "intake:webhook:msg_1")) is not None


async def test_repeat_by_source_and_external_id_returns_the_same_issue(
    database: Database, make_config: Any
) -> None:
    config = make_config()
    first = await ingest_issue(database, config, make_request(), delivery_key="intake:webhook:a")
    again = await ingest_issue(
        database, config, make_request(subject="edited"), delivery_key="intake:webhook:b"
    )
    assert (again.issue_id, again.created) == (first.issue_id, False)
    assert await count(database, Issue) == 1
    assert await count(database, OutboxItem) == 1


async def test_repeat_by_delivery_id_returns_the_same_issue_even_with_another_external_id(
    database: Database, make_config: Any
) -> None:
    config = make_config()
    first = await ingest_issue(database, config, make_request(), delivery_key="intake:webhook:same")
    again = await ingest_issue(
        database, config, make_request(external_id="T-2"), delivery_key="intake:webhook:same"
    )
    assert (again.issue_id, again.created) == (first.issue_id, False)
    assert await count(database, Issue) == 1


async def test_concurrent_duplicates_make_one_issue_and_one_card(
    database: Database, make_config: Any
) -> None:
    config = make_config()
    results = await asyncio.gather(*(ingest_issue(database, config, make_request()) for _ in range(12)))
    assert len({r.issue_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await count(database, Issue) == 1
    assert await count(database, OutboxItem) == 1


async def test_concurrent_reports_from_one_new_customer_share_the_customer(
    database: Database, make_config: Any
) -> None:
    config = make_config()
    results = await asyncio.gather(
        *(ingest_issue(database, config, make_request(external_id=f"T-{i}")) for i in range(8))
    )
    assert all(r.created for r in results)
    assert await count(database, Issue) == 8
    assert await count(database, Customer) == 1


async def test_routes_pick_the_channel_first_match_wins(database: Database, make_config: Any) -> None:
    config = make_config()
    urgent_billing = await ingest_issue(
        database, config, make_request(external_id="u", severity="urgent", product_area="billing")
    )
    billing = await ingest_issue(database, config, make_request(external_id="b", product_area="Billing"))
    async with database.session() as session:
        assert (await session.get(Issue, urgent_billing.issue_id)).channel_id == CHANNEL_URGENT  # type: ignore[union-attr]
        assert (await session.get(Issue, billing.issue_id)).channel_id == CHANNEL_BILLING  # type: ignore[union-attr]


async def test_card_counts_distinct_customers_not_reports(database: Database, make_config: Any) -> None:
    config = make_config()
    first = await ingest_issue(database, config, make_request(external_id="1"))
    # The same person through another channel (matched by e-mail), and a second customer.
    same_person = await ingest_issue(
        database,
        config,
        make_request(external_id="2", source="intercom", customer={"id": "ic-9", "email": "DANA@acme.test"}),
    )
    other = await ingest_issue(database, config, make_request(external_id="3", customer={"id": "cust-2"}))
    async with database.session() as session:
        problem_id = (await session.get(Issue, first.issue_id)).problem_id  # type: ignore[union-attr]
        for result in (same_person, other):
            issue = await session.get(Issue, result.issue_id)
            assert issue is not None
            issue.problem_id = problem_id  # merged as duplicates
    state = await database.transaction(lambda conn: load_card_state(conn, first.issue_id))
    assert state is not None
    assert (state.card.report_count, state.card.customer_count) == (3, 2)


async def test_customer_details_are_filled_in_never_erased(database: Database, make_config: Any) -> None:
    config = make_config()
    await ingest_issue(database, config, make_request(external_id="1"))
    await ingest_issue(
        database,
        config,
        make_request(external_id="2", customer={"id": "x", "email": "dana@acme.test", "plan": "Enterprise"}),
    )
    async with database.session() as session:
        customer = await session.scalar(select(Customer))
    assert customer is not None
    assert (customer.name, customer.company, customer.plan) == ("Dana", "Acme", "Enterprise")
