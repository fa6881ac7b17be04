"""First-response SLAs on SQLite and PostgreSQL: a reminder at the target, the on-duty group at twice
the target, each exactly once (across restarts and concurrent checkers), and claiming stops the clock."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.domain.intake import IntakeRequest
from bot.services import triage
from bot.services.intake import ingest_issue
from db.models import Issue, IssueEvent, issues
from db.session import Database
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from schedules.first_response import check_first_response
from tests.harness import add_channels, new_card, notes, running_app, shown

# Tuesday 2026-11-17 10:00 in Berlin (09:00 UTC): inside business hours.
RECEIVED = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
SLA = {
    "on_duty_group": "S0ONDUTY01",
    "targets": {"urgent": "1h", "high": "4 business hours", "normal": "1 business day"},
}


async def new_issue(database: Database, config: Any, severity: str, received: datetime = RECEIVED) -> int:
    request = IntakeRequest.model_validate(
        {
            "external_id": f"T-{severity}-{received.timestamp()}",
            "source": "webform",
            "subject": "Checkout fails",
            "body": "The pay button spins forever.",
            "customer": {"id": "c1", "email": "c1@example.test"},
            "severity": severity,
        }
    )
    result = await ingest_issue(database, config, request)
    await database.transaction(
        lambda conn: conn.execute(
            update(issues).where(issues.c.id == result.issue_id).values(received_at=received)
        )
    )
    return result.issue_id


async def reminders(database: Database, issue_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with database.session() as session:
        rows = await session.scalars(
            select(IssueEvent)
            .where(IssueEvent.issue_id == issue_id, IssueEvent.kind.like("sla_%"))
            .order_by(IssueEvent.id)
        )
        return [(e.kind, e.detail) for e in rows]


async def test_reminder_at_the_target_then_the_on_duty_group_at_twice(
    database: Database, make_config: Any
) -> None:
    config = make_config(sla=SLA)
    issue_id = await new_issue(database, config, "urgent")
    assert await check_first_response(database, config, RECEIVED + timedelta(minutes=59)) == 0
    assert await check_first_response(database, config, RECEIVED + timedelta(minutes=61)) == 1
    assert await check_first_response(database, config, RECEIVED + timedelta(minutes=90)) == 0  # sent once
    assert await reminders(database, issue_id) == [
        ("sla_reminder", {"target": "1 hour", "group": "S0ONDUTY01"})
    ]
    assert await check_first_response(database, config, RECEIVED + timedelta(hours=2, minutes=1)) == 1
    assert await check_first_response(database, config, RECEIVED + timedelta(hours=5)) == 0
    assert [kind for kind, _ in await reminders(database, issue_id)] == ["sla_reminder", "sla_escalation"]


async def test_claiming_stops_the_clock(database: Database, make_config: Any) -> None:
    config = make_config(sla=SLA)
    issue_id = await new_issue(database, config, "urgent")
    await triage.run(database, triage.claim, issue_id, "U0AGENT0001")
    assert await check_first_response(database, config, RECEIVED + timedelta(hours=3)) == 0
    assert await reminders(database, issue_id) == []


async def test_concurrent_checkers_send_each_reminder_once(database: Database, make_config: Any) -> None:
    config = make_config(sla=SLA)
    ids = [await new_issue(database, config, "urgent", RECEIVED + timedelta(seconds=i)) for i in range(5)]
    later = RECEIVED + timedelta(minutes=70)
    sent = await asyncio.gather(*(check_first_response(database, config, later) for _ in range(4)))
    assert sum(sent) == 5
    for issue_id in ids:
        assert len(await reminders(database, issue_id)) == 1


async def test_after_downtime_past_both_marks_only_the_escalation_is_posted(
    database: Database, make_config: Any
) -> None:
    config = make_config(sla=SLA)
    issue_id = await new_issue(database, config, "urgent")
    assert await check_first_response(database, config, RECEIVED + timedelta(hours=6)) == 1
    assert [kind for kind, _ in await reminders(database, issue_id)] == ["sla_escalation"]
    async with database.session() as session:
        issue = await session.get(Issue, issue_id)
    assert issue is not None and issue.sla_level == 2


async def test_business_time_targets_skip_the_weekend(database: Database, make_config: Any) -> None:
    config = make_config(sla=SLA)
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 16:00 in Berlin
    issue_id = await new_issue(database, config, "normal", friday)
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert await check_first_response(database, config, saturday) == 0
    monday_before = datetime(2026, 11, 23, 14, 59, tzinfo=UTC)  # due Monday 16:00 Berlin
    assert await check_first_response(database, config, monday_before) == 0
    assert await check_first_response(database, config, monday_before + timedelta(minutes=2)) == 1
    assert await reminders(database, issue_id) == [
        ("sla_reminder", {"target": "1 business day", "group": "S0ONDUTY01"})
    ]


async def test_no_target_for_a_severity_means_no_reminders(database: Database, make_config: Any) -> None:
    config = make_config(sla=SLA)
    issue_id = await new_issue(database, config, "low")
    assert await check_first_response(database, config, RECEIVED + timedelta(days=30)) == 0
    assert await reminders(database, issue_id) == []


@pytest.mark.parametrize("merged", [True])
async def test_merged_reports_follow_their_problem(
    database: Database, make_config: Any, merged: bool
) -> None:
    config = make_config(sla=SLA)
    first = await new_issue(database, config, "urgent")
    second = await new_issue(database, config, "urgent", RECEIVED + timedelta(seconds=5))
    problem = await database.transaction(
        lambda conn: conn.execute(select(issues.c.problem_id).where(issues.c.id == first)).scalar_one()
    )
    await triage.run(database, triage.merge, second, "U0AGENT0001", problem)
    # The merge was a first response for the merged report; the problem's own card still waits.
    assert await check_first_response(database, config, RECEIVED + timedelta(minutes=61)) == 1
    assert len(await reminders(database, first)) == 1 and await reminders(database, second) == []


@pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())
async def test_the_reminders_are_posted_in_the_cards_thread(
    database_url: str, slack: FakeSlack, make_config: Any
) -> None:
    channels = add_channels(slack)
    async with running_app(database_url, slack, channels, config_overrides={"sla": SLA}) as stack:
        issue_id, card = await new_card(stack, severity="urgent")
        later = datetime.now(UTC) + timedelta(hours=3)
        assert await check_first_response(stack.runtime.database, stack.config, later) == 1
        stack.runtime.deliverer.wake()
        await stack.slack.wait_for(lambda: notes(stack, card), message="a note in the thread")
        assert "<!subteam^S0ONDUTY01>" in notes(stack, card)[0]
        assert "still unclaimed at twice the first-response target (1 hour)" in notes(stack, card)[0]
        assert issue_id


async def test_the_reminder_mentions_the_routes_owners_else_the_on_duty_group(
    database: Database, make_config: Any
) -> None:
    from bot.views.notes import render_triage_note

    routes = [
        {"match": {"severity": "urgent"}, "channel": "C0URGENT001", "owners": ["U0OWNER0001", "S0OWNERS01"]}
    ]
    config = make_config(sla=SLA, routes=routes)
    owned = await new_issue(database, config, "urgent")
    other = await new_issue(database, config, "high", RECEIVED - timedelta(days=2))
    assert await check_first_response(database, config, RECEIVED + timedelta(minutes=61)) >= 1
    (kind, detail), *_ = await reminders(database, owned)
    _, text = render_triage_note(kind, None, detail)
    assert "<@U0OWNER0001>" in text and "<!subteam^S0OWNERS01>" in text and "S0ONDUTY01" not in text
    (kind, detail), *_ = await reminders(database, other)
    _, text = render_triage_note(kind, None, detail)
    assert "<!subteam^S0ONDUTY01>" in text


# -- a colleague's reply in the card's thread is a first response -----------------------------------


def thread_reply(card: dict[str, Any], user: str, **extra: Any) -> dict[str, Any]:
    """The `message` event Slack sends for a reply in the card's thread (message.channels)."""
    ts = f"{time.time():.6f}"
    return {
        "type": "message",
        "channel": card["channel"],
        "user": user,
        "text": "Looking into it — can you send the invoice id?",
        "ts": ts,
        "event_ts": ts,
        "thread_ts": card["ts"],
        "channel_type": "channel",
        **extra,
    }


async def first_response(database: Database, issue_id: int) -> tuple[Any, Any]:
    row = await database.transaction(
        lambda conn: conn.execute(
            select(issues.c.first_response_at, issues.c.first_response_by).where(issues.c.id == issue_id)
        ).one()
    )
    return row.first_response_at, row.first_response_by


@pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())
async def test_a_colleagues_reply_in_the_thread_stops_the_clock_and_the_card_says_so(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    async with running_app(database_url, slack, channels, config_overrides={"sla": SLA}) as stack:
        database = stack.runtime.database
        issue_id, card = await new_card(stack, severity="urgent")
        assert "First response due <!date^" in shown(stack, card)
        event = thread_reply(card, "U0AGENT0002")
        response = await stack.slack_event(event, event_id="EvREPLY0001")
        assert response.status == 200
        at, by = await first_response(database, issue_id)
        assert by == "U0AGENT0002" and at is not None
        # Slack's retry of the event, and a later reply by someone else, change nothing.
        assert (await stack.slack_event(event, event_id="EvREPLY0001", retry=1)).status == 200
        later = thread_reply(card, "U0AGENT0003")
        assert (await stack.slack_event(later)).status == 200
        assert await first_response(database, issue_id) == (at, by)
        # No reminder at the target, nor at twice the target.
        reminder_at = datetime.now(UTC) + timedelta(hours=3)
        assert await check_first_response(database, stack.config, reminder_at) == 0
        assert await reminders(database, issue_id) == []
        await stack.slack.wait_for(
            lambda: "First response by <@U0AGENT0002> in 0 min" in shown(stack, card),
            message="the card says who answered",
        )
        assert "First response due" not in shown(stack, card)
        # The card can still be claimed: a reply is no claim.
        assert "I'm on it" in shown(stack, card)


@pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())
async def test_bots_joins_edits_other_threads_and_guests_are_no_first_response(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    async with running_app(database_url, slack, channels, config_overrides={"sla": SLA}) as stack:
        database = stack.runtime.database
        issue_id, card = await new_card(stack, severity="urgent")
        not_replies = [
            thread_reply(card, "U0OTHERBOT1", subtype="bot_message", bot_id="B0OTHERBOT1"),
            thread_reply(card, "U0INTEGRAT1", bot_id="B0INTEGRAT1"),  # an app posting as a user
            thread_reply(card, stack.slack.bot_user_id),  # the bot's own thread notes
            thread_reply(card, "U0JOINER001", subtype="channel_join"),
            thread_reply(card, "U0AGENT0002", subtype="message_changed"),
            thread_reply(card, "U0CUSTOMER1", user_team="T0CUSTOMER1"),  # a Slack Connect guest
            {**thread_reply(card, "U0AGENT0002"), "thread_ts": "1500000000.000100"},  # another thread
            {**thread_reply(card, "U0AGENT0002"), "channel": channels["billing"]},  # same ts, other channel
            {k: v for k, v in thread_reply(card, "U0AGENT0002").items() if k != "thread_ts"},  # top level
            {**thread_reply(card, "U0AGENT0002"), "ts": card["ts"]},  # the card itself
            {**thread_reply(card, "U0AGENT0002"), "ts": "not-a-ts"},
        ]
        for event in not_replies:
            response = await stack.slack_event(event)
            assert response.status == 200, event
            assert await first_response(database, issue_id) == (None, None), str(event)
        assert await first_response(database, issue_id) == (None, None)
        reminder_at = datetime.now(UTC) + timedelta(minutes=61)
        assert await check_first_response(database, stack.config, reminder_at) == 1
        # A reply broadcast to the channel too is a person's reply.
        broadcast = thread_reply(card, "U0AGENT0002", subtype="thread_broadcast")
        assert (await stack.slack_event(broadcast)).status == 200
        assert (await first_response(database, issue_id))[1] == "U0AGENT0002"


@pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())
async def test_once_late_the_reminder_re_renders_the_card_with_how_late(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    async with running_app(database_url, slack, channels, config_overrides={"sla": SLA}) as stack:
        database = stack.runtime.database
        issue_id, card = await new_card(stack, severity="urgent")
        # Received 85 minutes ago with a one-hour target: 25 minutes late.
        received = datetime.now(UTC) - timedelta(minutes=85)
        await database.transaction(
            lambda conn: conn.execute(
                update(issues).where(issues.c.id == issue_id).values(received_at=received)
            )
        )
        assert await check_first_response(database, stack.config) == 1
        stack.runtime.deliverer.wake()
        await stack.slack.wait_for(
            lambda: "First response late by 25 min" in shown(stack, card),
            message="the card says how late",
        )
        assert (await stack.slack_event(thread_reply(card, "U0AGENT0002"))).status == 200
        await stack.slack.wait_for(
            lambda: "First response by <@U0AGENT0002> in 1 h 25 min, late by 25 min" in shown(stack, card),
            message="the card says who answered, and how late",
        )


async def test_record_first_response_is_idempotent(database: Database, make_config: Any) -> None:
    from bot.services.first_response import record_first_response

    config = make_config(sla=SLA)
    issue_id = await new_issue(database, config, "urgent")
    at = RECEIVED + timedelta(minutes=12)
    assert await database.transaction(lambda conn: record_first_response(conn, issue_id, "U0AGENT0001", at))
    again = at + timedelta(minutes=5)
    assert not await database.transaction(
        lambda conn: record_first_response(conn, issue_id, "U0AGENT0002", again)
    )
    assert await first_response(database, issue_id) == (at, "U0AGENT0001")
    assert not await database.transaction(lambda conn: record_first_response(conn, 999_999, "U0X", at))
    # Claiming later keeps the first response, and the SLA clock stays stopped.
    await triage.run(database, triage.claim, issue_id, "U0AGENT0003")
    assert await first_response(database, issue_id) == (at, "U0AGENT0001")
    assert await check_first_response(database, config, RECEIVED + timedelta(hours=3)) == 0


async def test_claiming_records_who_gave_the_first_response(database: Database, make_config: Any) -> None:
    config = make_config(sla=SLA)
    issue_id = await new_issue(database, config, "urgent")
    await triage.run(database, triage.claim, issue_id, "U0AGENT0001")
    at, by = await first_response(database, issue_id)
    assert at is not None and by == "U0AGENT0001"
