"""Demo data: weeks of varied issues, merged, triaged and escalated, dated when they were received."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import escalations, inbound_deliveries, issues, problems, shadow_bookings
from sandbox.demo import THEMES, plan_reports
from tests.sandbox_harness import RunningSandbox, running_sandbox


@pytest.fixture
async def sbx(database_url: str) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(database_url) as running:
        yield running


def test_the_plan_spans_four_weeks_of_sources_areas_and_rising_problems() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    reports = plan_reports(now)
    assert min(r.received_at for r in reports) < now - timedelta(days=21)
    assert max(r.received_at for r in reports) < now
    assert len({r.source for r in reports}) >= 4
    assert len({r.theme.area for r in reports}) >= 5
    this_week = Counter(r.theme.key for r in reports if r.received_at > now - timedelta(days=7))
    last_week = Counter(
        r.theme.key for r in reports if now - timedelta(days=14) < r.received_at <= now - timedelta(days=7)
    )
    assert this_week["sso"] > last_week["sso"]  # a rising problem for the digest to point at


async def test_loading_the_demo_fills_the_workspace_and_a_second_load_adds_nothing(
    sbx: RunningSandbox,
) -> None:
    loaded = await sbx.api("/sandbox/api/demo", {})
    expected = sum(sum(t.weekly) for t in THEMES)
    assert loaded["issues"] == expected and loaded["problems"] == len(THEMES)
    assert loaded["fixed"] in sbx.sandbox.jira.issues
    assert sbx.sandbox.jira.issue(loaded["fixed"])["fields"]["status"] == "Done"

    now = datetime.now(UTC)
    async with sbx.runtime.database.session() as session:
        oldest = await session.scalar(select(func.min(issues.c.received_at)))
        this_week = await session.scalar(
            select(func.count()).where(issues.c.received_at > now - timedelta(days=7))
        )
        merged = await session.scalar(select(func.count()).where(problems.c.status == "merged"))
        biggest = await session.scalar(
            select(func.count())
            .select_from(issues)
            .group_by(issues.c.problem_id)
            .order_by(func.count().desc())
        )
        escalated = await session.scalar(select(func.count()).select_from(escalations))
        resolved = await session.scalar(select(func.count()).where(issues.c.status == "resolved"))
        booked = await session.scalar(select(func.count()).select_from(shadow_bookings))
    assert oldest is not None and oldest < now - timedelta(days=21)
    assert 0 < this_week < expected
    assert merged and biggest is not None and biggest >= 5  # enough customers for a threshold alert
    assert escalated == 3 and resolved and booked == loaded["shadow_bookings"] > 0

    def cards() -> list[str]:
        return [
            m["text"]
            for channel in sbx.sandbox.slack.channels
            for m in sbx.sandbox.slack.messages(channel)
            if m.get("text", "").startswith("Customer issue #")
        ]

    # One card per problem: the repeats joined their problems on arrival (the sandbox auto-merges).
    await sbx.wait_for(lambda: len(cards()) >= len(THEMES), "the demo cards posted")
    assert len(cards()) == len(THEMES), cards()
    # The helpdesk reports have their conversation / ticket in the fakes (a reply lands there); the
    # e-mail ones were stored as the mailbox intake stores an e-mail, by Message-ID.
    sources = Counter(r.source for r in plan_reports(now))
    side = sbx.sandbox.customers
    assert sources["intercom"] and sources["zendesk"] and sources["email"]
    assert len(side.intercom.conversations) == sources["intercom"]
    assert len(side.zendesk.tickets) == sources["zendesk"]
    async with sbx.runtime.database.session() as session:
        opened = select(issues.c.external_id).where(issues.c.source == "intercom")
        helpdesk_ids = set((await session.execute(opened)).scalars())
        mailed = await session.scalar(
            select(func.count())
            .select_from(inbound_deliveries)
            .where(inbound_deliveries.c.key.like("email:demo-%"), inbound_deliveries.c.issue_id.is_not(None))
        )
    assert helpdesk_ids == set(side.intercom.conversations) and mailed == sources["email"]
    again = await sbx.api("/sandbox/api/demo", {})
    assert again["issues"] == 0 and again["repeats"] == expected
    assert len(side.intercom.conversations) == sources["intercom"]  # the same ones, found again
    assert len(side.zendesk.tickets) == sources["zendesk"]

    # The workspace configures thresholds and the spike rule: the demo shows both kinds of alert.
    alerts = sbx.sandbox.config.channels.alerts
    assert alerts is not None and sbx.sandbox.config.thresholds

    def posted() -> list[dict[str, Any]]:
        return sbx.sandbox.slack.messages(alerts)

    def shown() -> str:
        return json.dumps([m.get("blocks") for m in posted()])

    await sbx.wait_for(
        lambda: "reached 5 customers" in shown() and "complaint spike" in shown(), "the alerts"
    )
    thresholds = [
        json.dumps(m["blocks"]) for m in posted() if "reached 5 customers" in json.dumps(m["blocks"])
    ]
    assert all("\\n*<https://fake.slack.com/archives/" in t for t in thresholds)  # linked to its card
    # Its Jira state as it was when the alert went out: the key and status once escalated.
    assert thresholds and all("Jira <" in t or "Not escalated to Jira yet" in t for t in thresholds)
    spikes = [m for m in posted() if "complaint spike" in str(m.get("text"))]
    assert len(spikes) == 1  # one message for the check
    assert any(b.get("accessory", {}).get("text", {}).get("text") == "Open card" for b in spikes[0]["blocks"])
