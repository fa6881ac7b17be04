"""Triage on the card, end to end: really signed clicks on the card's own controls, the card edited
in place from stored state, and who-did-what noted in its thread."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from db.models import Issue, IssueEvent
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, click, control, new_card, notes, shown

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture(autouse=True)
def people(slack: FakeSlack) -> dict[str, str]:
    return {name: slack.add_user(name) for name in ("ana", "ben", "cy", "dee", "eve")}


async def test_claim_records_the_first_response_and_the_card_says_who(
    stack: Stack, people: dict[str, str]
) -> None:
    issue_id, card = await new_card(stack)
    await click(stack, card, "issue.claim", people["ana"])
    await stack.slack.wait_for(
        lambda: f"<@{people['ana']}> is on it" in shown(stack, card), message="card shows claim"
    )
    await stack.slack.wait_for(lambda: notes(stack, card), message="note in the thread")
    assert f"<@{people['ana']}> is on it" in notes(stack, card)[0]
    control(stack.slack.message(card["channel"], card["ts"]), "issue.release")  # the button changed
    async with stack.runtime.database.session() as session:
        issue = await session.get(Issue, issue_id)
    assert issue is not None and issue.claimed_by == people["ana"]
    assert issue.first_response_at is not None and issue.first_response_at == issue.claimed_at
    assert len(stack.slack.messages(card["channel"])) == 1  # edited in place, never reposted


async def test_five_people_claiming_at_once_one_wins_the_others_are_told(
    stack: Stack, people: dict[str, str]
) -> None:
    issue_id, card = await new_card(stack)
    await asyncio.gather(*(click(stack, card, "issue.claim", user) for user in people.values()))
    await stack.slack.wait_for(
        lambda: len(stack.slack.ephemerals(card["channel"])) == 4, message="four told it is taken"
    )
    async with stack.runtime.database.session() as session:
        issue = await session.get(Issue, issue_id)
        claims = await session.scalar(
            select(func.count()).select_from(IssueEvent).where(IssueEvent.kind == "claimed")
        )
    assert issue is not None and issue.claimed_by in people.values()
    assert claims == 1
    assert all(
        f"<@{issue.claimed_by}> is already on #{issue_id}" in e["text"]
        for e in stack.slack.ephemerals(card["channel"])
    )


async def test_double_click_changes_nothing_twice(stack: Stack, people: dict[str, str]) -> None:
    _, card = await new_card(stack)
    stale_value = control(card, "issue.resolve")[1]["value"]
    await click(stack, card, "issue.resolve", people["ben"])
    await stack.slack.wait_for(lambda: notes(stack, card), message="resolved note")
    await asyncio.sleep(0.2)
    # The second click arrives from a card that still showed "Resolve".
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": people["ben"]},
            "channel": {"id": card["channel"]},
            "container": {"type": "message", "channel_id": card["channel"], "message_ts": card["ts"]},
            "actions": [
                {
                    "action_id": "issue.resolve",
                    "block_id": "x",
                    "type": "button",
                    "value": stale_value,
                    "action_ts": "1.1",
                }
            ],
        }
    )
    assert response.status == 200
    await asyncio.sleep(0.3)
    assert len(notes(stack, card)) == 1


async def test_severity_tags_resolve_and_reopen(stack: Stack, people: dict[str, str]) -> None:
    issue_id, card = await new_card(stack, tags=["bug"])
    await click(
        stack,
        card,
        "issue.severity",
        people["cy"],
        selected_option={"value": "urgent", "text": {"type": "plain_text", "text": "Urgent"}},
    )
    await stack.slack.wait_for(lambda: ":red_circle: Urgent" in shown(stack, card), message="severity shown")
    await click(
        stack,
        card,
        "issue.tags",
        people["cy"],
        selected_options=[
            {"value": "login", "text": {"type": "plain_text", "text": "login"}},
            {"value": "not-in-taxonomy", "text": {"type": "plain_text", "text": "x"}},
        ],
    )
    await stack.slack.wait_for(
        lambda: "`login`" in shown(stack, card) and "`bug`" not in shown(stack, card), message="tags shown"
    )
    await click(stack, card, "issue.resolve", people["dee"])
    await stack.slack.wait_for(
        lambda: f"Resolved by <@{people['dee']}>" in shown(stack, card), message="resolved"
    )
    await click(stack, card, "issue.reopen", people["eve"])
    await stack.slack.wait_for(lambda: "Open, unclaimed" in shown(stack, card), message="reopened")
    await stack.slack.wait_for(lambda: len(notes(stack, card)) == 4, message="four notes")
    thread = notes(stack, card)
    assert "changed the severity from normal to urgent" in thread[0]
    assert (
        "added `login`" in thread[1] and "removed `bug`" in thread[1] and "not-in-taxonomy" not in thread[1]
    )
    assert "resolved the issue" in thread[2] and "reopened the issue" in thread[3]
    async with stack.runtime.database.session() as session:
        issue = await session.get(Issue, issue_id)
    assert issue is not None and (issue.severity, issue.status, issue.resolved_at) == ("urgent", "open", None)


async def test_a_click_on_a_deleted_issue_is_answered_privately(stack: Stack, people: dict[str, str]) -> None:
    _, card = await new_card(stack)
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": people["ana"]},
            "channel": {"id": card["channel"]},
            "container": {"type": "message", "channel_id": card["channel"], "message_ts": card["ts"]},
            "actions": [
                {
                    "action_id": "issue.claim",
                    "block_id": "x",
                    "type": "button",
                    "value": '{"v":1,"issue":999999}',
                    "action_ts": "1.1",
                }
            ],
        }
    )
    assert response.status == 200
    await stack.slack.wait_for(lambda: stack.slack.ephemerals(card["channel"], people["ana"]), message="told")
    assert "no longer exists" in stack.slack.ephemerals(card["channel"], people["ana"])[0]["text"]


async def test_releasing_someone_elses_claim_tells_them_and_the_thread_says_who(
    stack: Stack, people: dict[str, str]
) -> None:
    issue_id, card = await new_card(stack)
    await click(stack, card, "issue.claim", people["ana"])
    await stack.slack.wait_for(
        lambda: f"<@{people['ana']}> is on it" in shown(stack, card), message="claimed"
    )
    await click(stack, card, "issue.release", people["ben"])
    await stack.slack.wait_for(lambda: len(notes(stack, card)) >= 2, message="the release noted")
    assert f"<@{people['ben']}> released <@{people['ana']}>'s claim" in notes(stack, card)[-1]

    def dms(user: str) -> list[str]:
        return [
            m["text"]
            for channel in stack.slack.channels.values()
            if channel.is_im and channel.im_user == user
            for m in stack.slack.messages(channel.id)
        ]

    await stack.slack.wait_for(lambda: dms(people["ana"]), message="a DM to the one whose claim it was")
    assert f"<@{people['ben']}> released your claim on customer issue #{issue_id}" in dms(people["ana"])[0]

    # Releasing your own claim tells nobody else.
    await click(stack, card, "issue.claim", people["cy"])
    await stack.slack.wait_for(lambda: f"<@{people['cy']}> is on it" in shown(stack, card), message="again")
    await click(stack, card, "issue.release", people["cy"])
    await stack.slack.wait_for(
        lambda: any(f"<@{people['cy']}> released the issue" in n for n in notes(stack, card)), message="own"
    )
    assert dms(people["cy"]) == []


async def test_raising_to_urgent_points_the_urgent_channel_at_the_card(
    stack: Stack, people: dict[str, str]
) -> None:
    """A card never moves silently: raised into another route's channel, that channel hears of it."""
    issue_id, card = await new_card(stack)
    urgent = stack.runtime.config.routes[0].channel
    assert card["channel"] != urgent

    def choose(value: str) -> dict[str, object]:
        return {"selected_option": {"value": value, "text": {"type": "plain_text", "text": value}}}

    await click(stack, card, "issue.severity", people["cy"], **choose("urgent"))
    await stack.slack.wait_for(
        lambda: stack.slack.messages(urgent), message="a pointer in the urgent channel"
    )
    pointer = stack.slack.messages(urgent)[0]
    assert f"#{issue_id}" in json.dumps(pointer["blocks"]) and f"<@{people['cy']}> raised" in pointer[
        "text"
    ] + json.dumps(pointer["blocks"])
    # Lowering it says nothing more there.
    await click(stack, card, "issue.severity", people["cy"], **choose("low"))
    await stack.slack.wait_for(lambda: ":white_circle: Low" in shown(stack, card), message="lowered")
    await asyncio.sleep(0.5)
    assert len(stack.slack.messages(urgent)) == 1
