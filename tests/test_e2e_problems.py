"""Problems end to end: similar reports suggested on a new card, "same problem as…" merging (from the
suggestion and from the typeahead select), distinct-customer counts, unmerge, and `/support search` —
through really signed Slack requests and the fake Slack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Issue, Problem
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, click, has_control, make_issue_payload, new_card, notes, settled, shown

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

FIRST = {
    "subject": "Invoice PDF download is blank",
    "body": "When I download my invoice as PDF the file opens but every page is blank.",
}
PARAPHRASE = {
    "subject": "Empty PDF when downloading a bill",
    "body": "The bill I download comes out as an empty PDF, nothing printed on the pages.",
}
UNRELATED = {
    "subject": "Cannot add a teammate to the workspace",
    "body": "Inviting a colleague by email shows an error and no invitation is sent.",
}


@pytest.fixture(autouse=True)
def people(slack: FakeSlack) -> dict[str, str]:
    return {name: slack.add_user(name) for name in ("ana", "ben")}


def customer(name: str) -> dict[str, str]:
    return {"id": name, "name": name.title(), "email": f"{name}@example.test"}


async def problem_of(stack: Stack, issue_id: int) -> int:
    async with stack.runtime.database.session() as session:
        issue = await session.get(Issue, issue_id)
        assert issue is not None
        return issue.problem_id


async def options(stack: Stack, card: dict[str, Any], user: str, typed: str) -> list[dict[str, Any]]:
    """What Slack asks when someone types in the "Same problem as…" select (a block_suggestion)."""
    message = stack.slack.message(card["channel"], card["ts"])
    block = next(
        b
        for b in message["blocks"]
        if any(e.get("action_id") == "issue.merge_into" for e in b.get("elements", []))
    )
    response = await stack.slack_interaction(
        {
            "type": "block_suggestion",
            "user": {"id": user},
            "action_id": "issue.merge_into",
            "block_id": block["block_id"],
            "value": typed,
            "container": {"type": "message", "channel_id": card["channel"], "message_ts": card["ts"]},
            "channel": {"id": card["channel"]},
        }
    )
    assert response.status == 200
    return list((await response.json())["options"])


async def test_a_paraphrase_is_suggested_and_merged_in_one_click(
    stack: Stack, people: dict[str, str]
) -> None:
    first_id, first = await new_card(stack, customer=customer("dana"), **FIRST)
    _, unrelated = await new_card(stack, customer=customer("lee"), **UNRELATED)
    second_id, second = await new_card(stack, customer=customer("kim"), **PARAPHRASE)
    assert f"Looks like *#{first_id}* — 1 customer" in shown(stack, second)
    assert "Looks like" not in shown(stack, unrelated)

    await click(stack, second, "issue.merge_suggested", people["ana"])
    await stack.slack.wait_for(lambda: "2 reports · 2 customers" in shown(stack, first), message="counted")
    problem = await problem_of(stack, first_id)
    assert await problem_of(stack, second_id) == problem
    await stack.slack.wait_for(lambda: f"Merged into #{first_id}" in shown(stack, second), message="points")
    second_now = stack.slack.message(second["channel"], second["ts"])
    assert has_control(second_now, "issue.unmerge") and not has_control(second_now, "issue.claim")
    assert "Dana" in shown(stack, first) and "Kim" in shown(stack, first)  # the short customer list
    await stack.slack.wait_for(lambda: notes(stack, first) and notes(stack, second), message="noted")
    assert f"merged #{second_id} into this problem; 2 customers now" in notes(stack, first)[-1]
    assert f"merged this report into #{first_id}" in notes(stack, second)[-1]
    assert len(stack.slack.messages(first["channel"])) == 3  # every card edited in place


async def test_the_same_customer_twice_counts_once(stack: Stack, people: dict[str, str]) -> None:
    _first_id, first = await new_card(stack, customer=customer("dana"), **FIRST)
    _, second = await new_card(stack, customer=customer("dana"), **PARAPHRASE)
    await click(stack, second, "issue.merge_suggested", people["ana"])
    await stack.slack.wait_for(
        lambda: "2 reports · 1 customer" in shown(stack, first), message="one customer"
    )


async def test_merge_from_the_typeahead_then_unmerge(stack: Stack, people: dict[str, str]) -> None:
    first_id, first = await new_card(stack, customer=customer("dana"), **FIRST)
    second_id, second = await new_card(stack, customer=customer("lee"), **UNRELATED)
    found = await options(stack, second, people["ben"], "invoice pd")  # the last word is a prefix
    assert [o["value"] for o in found] == [str(await problem_of(stack, first_id))]
    assert found[0]["text"]["text"].startswith(f"#{first_id} Invoice PDF download is blank")
    assert await options(stack, first, people["ben"], "invoice pdf") == []  # never itself
    by_number = await options(stack, second, people["ben"], f"#{first_id}")
    assert [o["value"] for o in by_number] == [o["value"] for o in found]  # "#12" finds #12
    # Digits that are not ASCII, or too many for an id, are words to search for, never a 500.
    for typed in ("#²", "١٢", "12345678901234567890", "#99999999999"):
        assert await options(stack, second, people["ben"], typed) == []

    chosen = {"selected_option": {"text": found[0]["text"], "value": found[0]["value"]}}
    await click(stack, second, "issue.merge_into", people["ben"], **chosen)
    await stack.slack.wait_for(lambda: "2 reports · 2 customers" in shown(stack, first), message="merged")
    await stack.slack.wait_for(
        lambda: has_control(stack.slack.message(second["channel"], second["ts"]), "issue.unmerge"),
        message="unmerge offered",
    )

    await click(stack, second, "issue.unmerge", people["ana"])
    await stack.slack.wait_for(lambda: "1 report · 1 customer" in shown(stack, first), message="back to one")
    await stack.slack.wait_for(
        lambda: has_control(stack.slack.message(second["channel"], second["ts"]), "issue.claim"),
        message="own card again",
    )
    assert await problem_of(stack, second_id) != await problem_of(stack, first_id)
    async with stack.runtime.database.session() as session:
        statuses = set((await session.scalars(select(Problem.status))).all())
    assert statuses == {"open"}


async def test_resolving_a_problem_resolves_its_reports_and_closes_it_to_merges(
    stack: Stack, people: dict[str, str]
) -> None:
    first_id, first = await new_card(stack, customer=customer("dana"), **FIRST)
    second_id, second = await new_card(stack, customer=customer("kim"), **PARAPHRASE)
    await click(stack, second, "issue.merge_suggested", people["ana"])
    await stack.slack.wait_for(lambda: "2 customers" in shown(stack, first), message="merged")
    await click(stack, first, "issue.resolve", people["ana"])
    await stack.slack.wait_for(lambda: "Resolved by" in shown(stack, first), message="resolved")
    async with stack.runtime.database.session() as session:
        rows = (await session.scalars(select(Issue).where(Issue.id.in_([first_id, second_id])))).all()
    assert {r.status for r in rows} == {"resolved"}
    _, third = await new_card(stack, customer=customer("lee"), **UNRELATED)
    assert await options(stack, third, people["ben"], "invoice") == []  # resolved: not offered


async def test_support_search_shows_past_and_open_issues_privately(
    stack: Stack, people: dict[str, str]
) -> None:
    first_id, first = await new_card(stack, customer=customer("dana"), **FIRST)
    await new_card(stack, customer=customer("lee"), **UNRELATED)
    await click(stack, first, "issue.resolve", people["ana"])
    await stack.slack.wait_for(lambda: "Resolved by" in shown(stack, first), message="resolved")
    response = await stack.slash_command("search blank invoice", user=people["ben"], channel=first["channel"])
    assert response.status == 200
    answer = await response.json()
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert f"#{first_id} · Invoice PDF download is blank" in text and "resolved" in text
    assert "teammate" not in text
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    nothing = await (
        await stack.slash_command("search zebra", user=people["ben"], channel=first["channel"])
    ).json()
    assert "No issues match" in nothing["text"]


# -- auto-merge: one card per problem ---------------------------------------------------------------

SAME_AGAIN = {
    "subject": "Invoice PDF downloads are blank",
    "body": "Downloading my invoice as a PDF gives a file where every page is blank.",
}


@pytest.fixture
async def merging(database_url: str, slack: FakeSlack) -> Any:
    from tests.harness import add_channels, running_app

    # Batches of a second: a storm of reports arriving while the machine is busy still batches.
    config = {"matching": {"auto_merge": 0.8, "batch_seconds": 1.0}}
    async with running_app(database_url, slack, add_channels(slack), config_overrides=config) as running:
        yield running


async def test_a_near_duplicate_joins_its_problem_at_intake_with_a_line_and_no_card(
    merging: Stack, people: dict[str, str]
) -> None:
    stack = merging
    first_id, first = await new_card(stack, customer={**customer("dana"), "company": "Globex"}, **FIRST)
    response = await stack.webhook(
        make_issue_payload(customer={**customer("kim"), "company": "Initech"}, source="zendesk", **SAME_AGAIN)
    )
    second_id = (await response.json())["id"]
    await stack.slack.wait_for(lambda: "2 reports · 2 customers" in shown(stack, first), message="counted")
    await stack.slack.wait_for(lambda: notes(stack, first), message="the +1 line")
    line = notes(stack, first)[-1]
    assert "+1 from *Initech* via Zendesk" in line and f"#{second_id}" in line and "Unmerge" in line
    assert await problem_of(stack, second_id) == await problem_of(stack, first_id)
    await settled(stack)
    assert len(stack.slack.messages(first["channel"])) == 1  # no card of its own
    # An unrelated report still gets its card.
    await new_card(stack, customer=customer("lee"), **UNRELATED)

    # Unmerge from the line: the report stands alone, with its own card now.
    thread = stack.slack.thread(first["channel"], first["ts"])
    note = {"channel": first["channel"], "ts": thread[-1]["ts"]}
    await click(stack, note, "issue.unmerge", people["ana"])
    card = await stack.wait_for_recorded_card(second_id)
    assert await problem_of(stack, second_id) != await problem_of(stack, first_id)
    await stack.slack.wait_for(lambda: "1 report · 1 customer" in shown(stack, first), message="back to one")
    assert "Invoice PDF downloads are blank" in shown(stack, stack.slack.message(card.channel, card.ts))
    # The line it was unmerged from says so, and offers no Unmerge that could only fail.
    await stack.slack.wait_for(lambda: "unmerged" in shown(stack, note), message="the +1 line updated")
    assert "~+1 from *Initech* via Zendesk" in shown(stack, note)
    assert not has_control(stack.slack.message(note["channel"], note["ts"]), "issue.unmerge")
    assert "1 customer now" in shown(stack, note)


async def test_a_storm_of_one_outage_is_one_card_edited_in_batches(
    merging: Stack, people: dict[str, str]
) -> None:
    stack = merging
    _, first = await new_card(
        stack,
        customer=customer("c0"),
        subject="Checkout returns 502 Bad Gateway",
        body="Paying fails with 502.",
    )
    storm = 30
    for n in range(1, storm + 1):
        response = await stack.webhook(
            make_issue_payload(
                customer=customer(f"c{n}"),
                subject=f"Checkout returns 502 Bad Gateway{' again' if n % 2 else ''}",
                body="Paying fails with 502." if n % 3 else "Paying fails with a 502 error.",
            )
        )
        assert response.status in (200, 201, 202)
    await stack.slack.wait_for(
        lambda: f"{storm + 1} reports · {storm + 1} customers" in shown(stack, first), message="all counted"
    )
    await settled(stack)
    channel = stack.slack.messages(first["channel"])
    assert len(channel) == 1  # one card, no card per report
    lines = notes(stack, first)
    assert 1 <= len(lines) < storm / 2  # batched, not one line per report
    listed = sum(line.count("+1 from") for line in lines)
    more = sum(int(line.split(" more;")[0].rsplit(" ", 1)[-1]) for line in lines if " more;" in line)
    assert listed + more == storm
