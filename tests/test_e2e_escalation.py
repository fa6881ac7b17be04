"""Escalation to Jira and back, end to end: really signed Slack clicks and Jira webhooks through the real
app, a fake Slack and a fake Jira (driven by the real `jira` package) that check every request against
the published contracts."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.ids import INPUT, Action, Block
from db.models import CustomerNotice, Escalation, Problem
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, click, has_control, new_card, notes, settled, shown

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

HOSTILE = "<!channel> *urgent* <https://evil.test|click> [evil|https://evil.test] {code}x{code}"


@pytest.fixture(autouse=True)
def people(slack: FakeSlack) -> dict[str, str]:
    return {name: slack.add_user(name) for name in ("ana", "ben", "cy", "dee", "eve")}


def fake_jira(stack: Stack) -> FakeJira:
    return stack.extra["jira"]  # type: ignore[no-any-return]


def card_now(stack: Stack, card: dict[str, Any]) -> dict[str, Any]:
    return stack.slack.message(card["channel"], card["ts"])


def customer(name: str) -> dict[str, str]:
    return {
        "id": name,
        "name": name.title(),
        "email": f"{name}@example.test",
        "company": f"{name.title()} Inc",
    }


def direct_messages(stack: Stack, user: str) -> list[dict[str, Any]]:
    for channel in stack.slack.channels.values():
        if channel.is_im and channel.im_user == user:
            return stack.slack.messages(channel.id)
    return []


async def escalation_row(stack: Stack) -> Escalation:
    async with stack.runtime.database.session() as session:
        rows = (await session.scalars(select(Escalation))).all()
    assert len(rows) == 1
    return rows[0]


async def escalated(stack: Stack, card: dict[str, Any], user: str) -> str:
    """Click Escalate and wait for the card to show the Jira key; returns it."""
    await click(stack, card, "issue.escalate", user)
    await stack.slack.wait_for(
        lambda: "PROJ-" in shown(stack, card), timeout=15, message="the card shows the Jira key"
    )
    return (await escalation_row(stack)).jira_key or ""


# The modal's fields picked from Jira (external selects) and their action ids.
PICKERS = {
    Block.ESCALATE_PROJECT: Action.ESCALATE_PICK_PROJECT,
    Block.ESCALATE_TYPE: Action.ESCALATE_PICK_TYPE,
    Block.ESCALATE_PRIORITY: Action.ESCALATE_PICK_PRIORITY,
}


def submission(view: dict[str, Any], values: dict[str, Any], user: str) -> dict[str, Any]:
    submitted = copy.deepcopy(view)
    state: dict[str, Any] = {}
    for block, value in values.items():
        if block in PICKERS:
            option = {"text": {"type": "plain_text", "text": value}, "value": value}
            state[block] = {PICKERS[block]: {"type": "external_select", "selected_option": option}}
        else:
            state[block] = {INPUT: {"type": "plain_text_input", "value": value}}
    submitted["state"] = {"values": state}
    return {"type": "view_submission", "user": {"id": user}, "view": submitted, "trigger_id": "1.2.3"}


async def test_one_click_creates_the_jira_issue_with_everything_filled_in(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    issue_id, card = await new_card(
        stack, severity="high", tags=["bug", "login"], customer=customer("dana"), body=f"Broken! {HOSTILE}"
    )
    key = await escalated(stack, card, people["ana"])
    assert jira.issue(key)["project"] == "PROJ"
    issue = jira.issue(key)["fields"]
    assert (issue["issuetype"], issue["priority"]) == ("Bug", "High")
    assert {"bug", "login"} <= set(issue["labels"])
    assert any(label.startswith("supportbridge-escalation-") for label in issue["labels"])
    assert issue["summary"] == "Invoices export times out"
    description = issue["description"]
    assert "1 customer" in description and "Dana" in description and "Webform" in description
    assert "[evil|https://evil.test]" not in description  # customer text cannot make Jira markup
    permalink = (await stack.wait_for_recorded_card(issue_id)).permalink
    assert permalink and permalink in description
    links = jira.remote_links(key)
    assert [link["object"]["url"] for link in links] == [permalink]
    assert "https://" in shown(stack, card) and key in shown(stack, card) and "To Do" in shown(stack, card)
    assert not has_control(card_now(stack, card), "issue.escalate")
    await stack.slack.wait_for(
        lambda: any(f"Escalated to Jira as *{key}*" in n for n in notes(stack, card)), message="noted"
    )
    assert f"<@{people['ana']}>" in next(n for n in notes(stack, card) if "Escalated" in n)
    assert any(
        "Escalating to Jira" in e["text"] for e in stack.slack.ephemerals(card["channel"], people["ana"])
    )


async def test_ten_concurrent_clicks_make_one_jira_issue(jira_stack: Stack, people: dict[str, str]) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    jira.latency = 0.05
    clickers = [*people.values(), *people.values()]  # five people, each double-clicking
    await asyncio.gather(*(click(stack, card, "issue.escalate", user) for user in clickers))
    await stack.slack.wait_for(lambda: "PROJ-" in shown(stack, card), message="escalated")
    await asyncio.sleep(0.5)  # let any stray second creation show itself
    assert len(jira.issues) == 1
    assert len(jira.calls_to("POST issue")) == 1
    told = [e["text"] for e in stack.slack.ephemerals(card["channel"])]
    assert sum("already" in t for t in told) == 9


async def test_jira_down_then_up_gives_one_issue_and_the_card_says_so(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    jira.fail("POST issue", 2, status=503, retry_after=0)
    await click(stack, card, "issue.escalate", people["ana"])
    await stack.slack.wait_for(lambda: "Escalating…" in shown(stack, card), message="pending shown")
    await stack.slack.wait_for(lambda: "PROJ-1" in shown(stack, card), timeout=15, message="created at last")
    assert len(jira.issues) == 1
    assert (await escalation_row(stack)).state == "created"


async def test_a_lost_answer_is_found_by_its_label_not_created_twice(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    jira.fail_after("POST issue")  # Jira creates the issue, the answer never arrives
    await click(stack, card, "issue.escalate", people["ana"])
    await stack.slack.wait_for(lambda: "PROJ-1" in shown(stack, card), timeout=15, message="adopted")
    assert list(jira.issues) == ["PROJ-1"]
    assert len(jira.calls_to("POST issue")) == 1


async def test_final_failure_shows_retry_and_retry_creates_one(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    jira.fail_all("POST issue", status=500)
    await click(stack, card, "issue.escalate", people["ana"])
    await stack.slack.wait_for(
        lambda: "Escalation failed" in shown(stack, card), timeout=15, message="failed"
    )
    assert has_control(card_now(stack, card), "issue.escalate_retry")
    assert len(jira.calls_to("POST issue")) == 3  # jira.max_attempts
    await stack.slack.wait_for(
        lambda: any("escalation failed" in n for n in notes(stack, card)), message="noted"
    )
    jira.recover()
    await click(stack, card, "issue.escalate_retry", people["ben"])
    await stack.slack.wait_for(lambda: "PROJ-1" in shown(stack, card), timeout=15, message="created on retry")
    assert len(jira.issues) == 1


async def test_a_refusal_fails_at_once_with_jiras_reason(jira_stack: Stack, people: dict[str, str]) -> None:
    stack = jira_stack
    _, card = await new_card(stack)
    await click(stack, card, "issue.escalate_more", people["ana"], selected_option={"value": "details"})
    await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened")
    view = stack.slack.modals[-1]
    values = {
        Block.ESCALATE_PROJECT: "PROJ",
        Block.ESCALATE_TYPE: "Bug",
        Block.ESCALATE_PRIORITY: "Blocker",  # a priority the site has no more (the list was stale)
        Block.ESCALATE_SUMMARY: "Custom summary",
    }
    response = await stack.slack_interaction(submission(view, values, people["ana"]))
    assert response.status == 200
    await stack.slack.wait_for(lambda: "Escalation failed" in shown(stack, card), message="refused")
    assert "priority" in shown(stack, card).lower(), shown(stack, card)
    assert len(fake_jira(stack).calls_to("POST issue")) == 1

    # Retry keeps what was chosen: it asks for Blocker again, never the default priority.
    await click(stack, card, "issue.escalate_retry", people["ben"])
    await stack.slack.wait_for(
        lambda: len(fake_jira(stack).calls_to("POST issue")) == 2, message="retried", timeout=10
    )
    retried = json.dumps(fake_jira(stack).calls_to("POST issue")[-1].json)
    assert "Blocker" in retried and "Custom summary" in retried
    assert not fake_jira(stack).issues


async def test_escalate_with_details_uses_what_was_chosen(jira_stack: Stack, people: dict[str, str]) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    jira.add_project("WEB")
    _, card = await new_card(stack, severity="low")
    await click(stack, card, "issue.escalate_more", people["ana"], selected_option={"value": "details"})
    await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened")
    view = stack.slack.modals[-1]
    assert "PROJ" in json.dumps(view["blocks"]) and "Low" in json.dumps(view["blocks"])  # prefilled
    bad = await stack.slack_interaction(
        submission(
            view,
            {
                Block.ESCALATE_PROJECT: "not a key!",
                Block.ESCALATE_TYPE: "Bug",
                Block.ESCALATE_PRIORITY: "High",
                Block.ESCALATE_SUMMARY: "x",
            },
            people["ana"],
        )
    )
    assert (await bad.json())["errors"][Block.ESCALATE_PROJECT]
    values = {
        Block.ESCALATE_PROJECT: "web",
        Block.ESCALATE_TYPE: "Task",
        Block.ESCALATE_PRIORITY: "Highest",
        Block.ESCALATE_SUMMARY: "Exports time out for big accounts",
    }
    await stack.slack_interaction(submission(view, values, people["ana"]))
    await stack.slack.wait_for(lambda: "WEB-1" in shown(stack, card), message="created in WEB")
    fields = jira.issue("WEB-1")["fields"]
    assert (fields["issuetype"], fields["priority"], fields["summary"]) == (
        "Task",
        "Highest",
        "Exports time out for big accounts",
    )


async def test_link_an_existing_jira_issue(jira_stack: Stack, people: dict[str, str]) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    existing = jira.create_issue("PROJ", "Known export bug", status="In Progress")
    _, card = await new_card(stack)
    await click(stack, card, "issue.escalate_more", people["ben"], selected_option={"value": "link"})
    await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened")
    view = stack.slack.modals[-1]
    missing = await stack.slack_interaction(
        submission(view, {Block.LINK_JIRA_KEY: "PROJ-999"}, people["ben"])
    )
    assert "does not exist" in (await missing.json())["errors"][Block.LINK_JIRA_KEY]
    garbage = await stack.slack_interaction(submission(view, {Block.LINK_JIRA_KEY: "hello"}, people["ben"]))
    assert "not a Jira issue key" in (await garbage.json())["errors"][Block.LINK_JIRA_KEY]
    url = f"{jira.url}/browse/{existing}"
    ok = await stack.slack_interaction(submission(view, {Block.LINK_JIRA_KEY: url}, people["ben"]))
    assert ok.status == 200 and not (await ok.text())
    await stack.slack.wait_for(lambda: existing in shown(stack, card), message="linked")
    assert "In Progress" in shown(stack, card)
    await stack.slack.wait_for(lambda: jira.remote_links(existing), message="remote link")
    assert len(jira.issues) == 1 and not jira.calls_to("POST issue")


async def test_jira_changes_flow_back_and_resolution_closes_the_loop(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    first_id, first = await new_card(stack, customer=customer("dana"), source="zendesk")
    _, second = await new_card(stack, customer=customer("kim"), source="email")
    await click(stack, second, "issue.merge_into", people["ana"], selected_option={"value": str(first_id)})
    await stack.slack.wait_for(lambda: "2 customers" in shown(stack, first), message="merged")
    key = await escalated(stack, first, people["ana"])

    jira.set_status(key, "In Progress")
    response = await stack.jira_webhook(jira.webhook_payload("jira:issue_updated", key), identifier="wh-1")
    assert response.status == 200
    await stack.slack.wait_for(lambda: "In Progress" in shown(stack, first), message="status on the card")
    await stack.slack.wait_for(
        lambda: "In Progress" in shown(stack, second), message="and on the merged card"
    )

    jira.resolve(key, "Done", fix_versions=["2.4.0"])
    payload = jira.webhook_payload("jira:issue_updated", key)
    for _ in range(3):  # Jira retrying the same delivery
        assert (await stack.jira_webhook(payload, identifier="wh-2")).status == 200
    await stack.slack.wait_for(lambda: "2 still to tell" in shown(stack, first), message="to tell")
    assert "2.4.0" in shown(stack, first)
    # Paced at Slack's one message per second in the channel, behind the notes and card edits above.
    await stack.slack.wait_for(
        lambda: any("Customers to tell" in n for n in notes(stack, first)), 15, message="list"
    )
    # The status line and the list are separate deliveries; count once nothing is left to post.
    await settled(stack)
    assert (
        sum("changed" in n and "Done" in n for n in notes(stack, first)) == 1
    )  # one update for 3 deliveries
    thread = stack.slack.thread(first["channel"], first["ts"])[1:]
    listing = next(m for m in thread if "Customers to tell" in json.dumps(m["blocks"]))
    text = json.dumps(listing["blocks"])
    assert "Dana" in text and "Kim" in text and "Zendesk" in text and "E-mail" in text

    await click(stack, listing, "problem.mark_notified", people["ben"])
    await stack.slack.wait_for(lambda: "1 still to tell" in shown(stack, first), message="one told")
    await stack.slack.wait_for(
        lambda: "told by" in json.dumps(stack.slack.message(listing["channel"], listing["ts"])["blocks"]),
        message="list updated",
    )
    await click(stack, listing, "problem.mark_all_notified", people["ben"])
    await stack.slack.wait_for(lambda: "all told" in shown(stack, first), message="all told")
    problem_id = (await escalation_row(stack)).problem_id
    async with stack.runtime.database.session() as session:
        told = await session.scalar(select(func.count()).select_from(CustomerNotice))
        problem = await session.get(Problem, problem_id)
    assert told == 2
    assert problem is not None and problem.status == "resolved"


async def test_wont_do_asks_the_escalator_for_a_rationale(jira_stack: Stack, people: dict[str, str]) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    key = await escalated(stack, card, people["cy"])
    jira.resolve(key, "Won't Do")
    await stack.jira_webhook(jira.webhook_payload("jira:issue_updated", key))
    await stack.slack.wait_for(lambda: direct_messages(stack, people["cy"]), message="DM to the escalator")
    dm = direct_messages(stack, people["cy"])[0]
    assert "Won't Do" in json.dumps(dm["blocks"]) or "Won\\u2019t" in json.dumps(dm["blocks"])
    await click(stack, dm, "problem.write_rationale", people["cy"])
    await stack.slack.wait_for(lambda: stack.slack.modals, message="rationale modal")
    view = stack.slack.modals[-1]
    reply = submission(
        view, {Block.RATIONALE_TEXT: f"Legacy exports are being retired. {HOSTILE}"}, people["cy"]
    )
    assert (await stack.slack_interaction(reply)).status == 200
    await stack.slack.wait_for(
        lambda: any("Legacy exports are being retired" in n for n in notes(stack, card)), message="posted"
    )
    rationale_note = next(n for n in notes(stack, card) if "Legacy exports" in n)
    assert "<!channel>" not in rationale_note
    await stack.slack.wait_for(lambda: "Why not:" in shown(stack, card), message="on the card")
    # Won't do is not a fix: never celebrated, shown as won't do; the rationale reaches Jira once.
    assert "Won't do" in shown(stack, card) and ":white_check_mark: Resolved" not in shown(stack, card)
    assert not any(":tada:" in n for n in notes(stack, card))
    await stack.slack.wait_for(
        lambda: any("Legacy exports are being retired" in json.dumps(c) for c in jira.comments(key)),
        message="the rationale as a Jira comment",
    )
    assert sum("Won't do" in json.dumps(c) for c in jira.comments(key)) == 1
    async with stack.runtime.database.session() as session:
        problem = (await session.scalars(select(Problem))).one()
    assert (
        problem.rationale
        and problem.rationale.startswith("Legacy exports")
        and problem.rationale_by == people["cy"]
    )

    # Both requests (the DM and the one in the thread) now show the rationale, with no button.
    dm_ref = {"channel": dm["channel"], "ts": dm["ts"]}
    await stack.slack.wait_for(
        lambda: "wrote the won't-do rationale" in shown(stack, dm_ref), message="the DM request updated"
    )
    assert not has_control(stack.slack.message(dm["channel"], dm["ts"]), "problem.write_rationale")
    assert "<!channel>" not in shown(stack, dm_ref)
    # (Posted, then updated: a request not posted yet would have no button either.)
    await stack.slack.wait_for(
        lambda: (
            any(
                "wrote the won" in json.dumps(m.get("blocks"))
                for m in stack.slack.thread(card["channel"], card["ts"])
            )
            and not any(
                has_control(m, "problem.write_rationale")
                for m in stack.slack.thread(card["channel"], card["ts"])
            )
        ),
        message="the thread's request updated",
    )
    # The old button, clicked anyway: a clear answer instead of a form.
    modals = len(stack.slack.modals)
    old = {
        "type": "block_actions",
        "user": {"id": people["cy"]},
        "trigger_id": stack.slack.new_trigger_id(),
        "container": {"type": "message", "channel_id": dm["channel"], "message_ts": dm["ts"]},
        "channel": {"id": dm["channel"]},
        "message": {"ts": dm["ts"]},
        "actions": [
            {
                "action_id": "problem.write_rationale",
                "block_id": "old",
                "type": "button",
                "value": json.dumps({"v": 1, "problem": problem.id}, separators=(",", ":")),
                "action_ts": "1.2",
            }
        ],
    }
    assert (await stack.slack_interaction(old)).status == 200
    await stack.slack.wait_for(
        lambda: (
            any("already written" in str(m.get("text")) for m in direct_messages(stack, people["cy"]))
            or any("already written" in e["text"] for e in stack.slack.ephemerals(dm["channel"]))
        ),
        message="the stale click answered",
    )
    assert len(stack.slack.modals) == modals


async def test_hostile_jira_text_shows_as_text(jira_stack: Stack, people: dict[str, str]) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    key = await escalated(stack, card, people["ana"])
    villain = jira.add_user(HOSTILE, email="villain@example.test")
    jira.set_assignee(key, villain, by=villain)
    await stack.jira_webhook(jira.webhook_payload("jira:issue_updated", key))
    await stack.slack.wait_for(lambda: "evil.test" in shown(stack, card), message="assignee shown")
    assert "<!channel>" not in shown(stack, card) and "&lt;!channel&gt;" in shown(stack, card)
    assert all("<!channel>" not in n for n in notes(stack, card))


async def test_deleting_the_jira_issue_unlinks_it(jira_stack: Stack, people: dict[str, str]) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    key = await escalated(stack, card, people["ana"])
    payload = jira.webhook_payload("jira:issue_deleted", key)
    jira.delete_issue(key)
    assert (await stack.jira_webhook(payload)).status == 200
    await stack.slack.wait_for(
        lambda: has_control(card_now(stack, card), "issue.escalate"), message="unlinked"
    )
    assert key not in shown(stack, card)
    await stack.slack.wait_for(
        lambda: any("deleted in Jira" in n for n in notes(stack, card)), message="noted"
    )


async def test_new_customers_are_told_to_jira_in_one_batched_comment(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    first_id, first = await new_card(stack, customer=customer("dana"))
    key = await escalated(stack, first, people["ana"])
    others = [await new_card(stack, customer=customer(name)) for name in ("kim", "lee", "max")]
    # Jira refuses comments for a while: the merges pile up behind one pending comment, which then
    # names every new customer once (and no merge makes a comment of its own).
    jira.fail_all("POST issue/*/comment", status=503, retry_after=0)
    await asyncio.gather(
        *(
            click(stack, card, "issue.merge_into", people["ben"], selected_option={"value": str(first_id)})
            for _, card in others
        )
    )
    await stack.slack.wait_for(lambda: "4 customers" in shown(stack, first), message="merged")
    await stack.slack.wait_for(lambda: jira.calls_to("POST issue/*/comment"), timeout=10, message="tried")
    jira.recover()
    await stack.slack.wait_for(lambda: jira.comments(key), timeout=10, message="a comment")
    await asyncio.sleep(0.6)
    comments = jira.comments(key)
    assert len(comments) == 1
    body = json.dumps(comments[0])
    assert "Kim" in body and "Lee" in body and "Max" in body and "Dana" not in body


async def test_a_comment_whose_answer_was_lost_is_not_posted_twice(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    first_id, first = await new_card(stack, customer=customer("dana"))
    key = await escalated(stack, first, people["ana"])
    _, other = await new_card(stack, customer=customer("kim"))
    jira.fail("POST issue/*/comment", answer_lost=True)  # Jira adds it; its answer never arrives
    await click(stack, other, "issue.merge_into", people["ben"], selected_option={"value": str(first_id)})
    await stack.slack.wait_for(lambda: len(jira.calls_to("GET issue/*/comment")) >= 1, message="looked")
    await asyncio.sleep(0.6)
    comments = jira.comments(key)
    assert len(comments) == 1 and "Kim" in json.dumps(comments[0])
    assert len(jira.calls_to("POST issue/*/comment")) == 1


async def test_webhook_checks(jira_stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    stack = jira_stack
    body = {"webhookEvent": "jira:issue_updated", "issue": {"key": "PROJ-1", "fields": {}}}
    assert (await stack.jira_webhook(body, secret="wrong")).status == 401
    assert (await stack.jira_webhook(b"{not json")).status == 400
    assert (await stack.jira_webhook({"webhookEvent": "jira:issue_updated", "issue": {}})).status == 400
    with caplog.at_level(logging.INFO, logger="handlers.jira_webhook"):
        ignored = await stack.jira_webhook({"webhookEvent": "comment_created", "comment": {}})
        assert ignored.status == 200 and (await ignored.json()) == {"ignored": True}
        assert not [r for r in caplog.records if r.name == "handlers.jira_webhook"]  # listed: no line
        teleported = await stack.jira_webhook({"webhookEvent": "jira:issue_teleported", "issue": {}})
        assert teleported.status == 200 and (await teleported.json()) == {"ignored": True}
        [line] = [r for r in caplog.records if r.name == "handlers.jira_webhook"]
    assert line.levelno == logging.INFO and line.getMessage() == "jira webhook: unknown event ignored"
    assert line.event == "jira:issue_teleported"  # type: ignore[attr-defined]
    unknown = await stack.jira_webhook(body)  # an issue we never linked
    assert unknown.status == 200 and (await unknown.json())["result"] == "unknown issue"
    unsigned = await stack.http.post(stack.url("/jira/webhook"), data=b"{}")
    assert unsigned.status == 401
    huge = await stack.jira_webhook(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert huge.status == 413


async def test_app_home_cockpit_follows_claims_escalations_and_jira(
    jira_stack: Stack, people: dict[str, str]
) -> None:
    """The Home tab: readable when empty; then the issue claimed, the problem escalated with its Jira
    status, and this week's top problems, re-published by the changes themselves (no reopening)."""
    stack = jira_stack
    jira = fake_jira(stack)
    ana = people["ana"]

    def home_text() -> str:
        return json.dumps(stack.slack.home_views.get(ana, {}).get("blocks", []))

    event = {"type": "app_home_opened", "user": ana, "channel": "D0HOME0001", "tab": "home"}
    assert (await stack.slack_event(event)).status == 200
    await stack.slack.wait_for(lambda: ana in stack.slack.home_views, message="home published")
    empty = home_text()
    assert "Nothing claimed" in empty and "Problems you escalated" in empty and "None yet" in empty
    assert "No customer issues in the last 7 days" in empty

    first_id, first = await new_card(stack, customer=customer("dana"), subject="Invoices <b>vanish</b>")
    await new_card(stack, customer=customer("kim"), subject="Login loops")
    await click(stack, first, "issue.claim", ana)
    await stack.slack.wait_for(lambda: f"#{first_id}" in home_text(), message="the claim on the Home tab")
    key = await escalated(stack, first, ana)
    await stack.slack.wait_for(lambda: key in home_text(), message="the escalation on the Home tab")

    jira.set_status(key, "In Progress")
    assert (
        await stack.jira_webhook(jira.webhook_payload("jira:issue_updated", key), identifier="h-1")
    ).status == 200
    await stack.slack.wait_for(
        lambda: "In Progress" in home_text(), message="the Jira status on the Home tab"
    )

    home = stack.slack.home_views[ana]
    text = home_text()
    assert "This week's top problems" in text and "Login loops" in text
    assert "Invoices &lt;b&gt;vanish&lt;/b&gt;" in text and "<b>" not in text
    assert len(home["blocks"]) <= 100
    stack.slack.assert_no_violations()


async def test_a_late_older_jira_update_does_not_undo_a_newer_one(
    jira_stack: Stack, people: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    stack = jira_stack
    jira = fake_jira(stack)
    _, card = await new_card(stack)
    key = await escalated(stack, card, people["ana"])
    jira.set_status(key, "In Progress")
    older = jira.webhook_payload("jira:issue_updated", key)
    jira.resolve(key, "Done")
    newer = jira.webhook_payload("jira:issue_updated", key)

    caplog.set_level(logging.DEBUG, logger="bot.services.escalation")
    assert (await stack.jira_webhook(newer)).status == 200
    await stack.slack.wait_for(lambda: "Done" in shown(stack, card), message="resolved on the card")
    assert (await stack.jira_webhook(older)).status == 200  # delivered late, after the newer one
    assert [r.getMessage() for r in caplog.records].count("older Jira update ignored") == 1

    row = await escalation_row(stack)
    assert (row.jira_status, row.jira_resolution) == ("Done", "Done")
    async with stack.runtime.database.session() as session:
        problem = (await session.scalars(select(Problem))).one()
    assert problem.status == "resolved"
    assert "In Progress" not in shown(stack, card)
