"""Customers are customers: a colleague relaying a customer's words is never counted as the customer.
Really signed reactions, shortcuts, clicks and modal submissions through the real app, on both
databases, with the fake Slack checking every call the bot makes back."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import INPUT, Action, Block, Callback
from bot.services.cards import problem_summaries
from db.models import Customer, Issue
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, add_channels, click, make_issue_payload, notes, running_app, shown

AGENT = "U0000000002"
RELAYER = "U0000000003"  # a PM in our workspace who pastes what a customer said
EXTERNAL_TEAM = "T0GLOBEX01"  # a customer's own workspace, in a Slack Connect channel

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture(autouse=True)
def people(slack: FakeSlack) -> None:
    assert (slack.add_user("agent"), slack.add_user("pm")) == (AGENT, RELAYER)


async def stored(stack: Stack) -> list[Issue]:
    async with stack.runtime.database.session() as session:
        return list(await session.scalars(select(Issue).order_by(Issue.id)))


async def customer_of(stack: Stack, issue: Issue) -> Customer | None:
    async with stack.runtime.database.session() as session:
        return await session.get(Customer, issue.customer_id) if issue.customer_id else None


def reaction(stack: Stack, ts: str, author: str) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": AGENT,
        "reaction": "ticket",
        "item": {"type": "message", "channel": stack.channels["feedback"], "ts": ts},
        "item_user": author,
        "event_ts": stack.slack.next_ts(),
    }


def submit(view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    submitted = copy.deepcopy(view)
    submitted["state"] = {
        "values": {b: {INPUT: {"type": "plain_text_input", "value": v}} for b, v in values.items()}
    }
    return {
        "type": "view_submission",
        "user": {"id": AGENT, "username": "agent", "team_id": "T0"},
        "view": submitted,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }


async def reacted_card(stack: Stack, ts: str, author: str) -> dict[str, Any]:
    assert (await stack.slack_event(reaction(stack, ts, author))).status == 200
    (issue,) = await stack.slack.wait_for(lambda: stored(stack), message="issue stored")
    recorded = await stack.wait_for_recorded_card(issue.id)
    return stack.slack.message(recorded.channel, recorded.ts)


async def test_a_reacted_message_of_a_colleague_has_no_customer_until_set_from_the_card(
    stack: Stack,
) -> None:
    ts = stack.slack.post_message_in(
        stack.channels["feedback"], "Customer Globex says exports fail since Monday", user=RELAYER
    )
    card = await reacted_card(stack, ts, RELAYER)
    text = shown(stack, card)
    assert "No customer yet" in text and "0 customers" in text and f"<@{RELAYER}>" not in text
    (issue,) = await stored(stack)
    assert issue.customer_id is None and not issue.counts_as_customer

    await click(stack, card, Action.SET_CUSTOMER, AGENT)
    view = (await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened"))[-1]
    assert view["callback_id"] == Callback.SET_CUSTOMER_MODAL
    # A bad e-mail, or nothing at all, keeps the form open with the reason under the field.
    bad = await stack.slack_interaction(submit(view, {Block.CUSTOMER_EMAIL: "not an address"}))
    assert (await bad.json())["errors"] == {
        Block.CUSTOMER_EMAIL: "Enter an e-mail address like name@example.com."
    }
    empty = await stack.slack_interaction(submit(view, {}))
    assert Block.CUSTOMER_NAME in (await empty.json())["errors"]
    assert (await stored(stack))[0].customer_id is None

    answers = {
        Block.CUSTOMER_NAME: "Gina Globex",
        Block.CUSTOMER_EMAIL: "Gina@Globex.test",
        Block.CUSTOMER_COMPANY: "Globex",
    }
    ok = await stack.slack_interaction(submit(view, answers))
    assert ok.status == 200 and (await ok.text()) == ""
    await stack.slack.wait_for(lambda: "Gina Globex" in shown(stack, card), message="card re-rendered")
    text = shown(stack, card)
    assert "1 customer" in text and "No customer yet" not in text and "Set customer" not in text
    (issue,) = await stored(stack)
    customer = await customer_of(stack, issue)
    assert customer is not None and (customer.email, customer.company) == ("gina@globex.test", "Globex")
    assert issue.counts_as_customer
    await stack.slack.wait_for(
        lambda: any("set the customer of this report; 1 customer now" in n for n in notes(stack, card)),
        message="thread note",
    )


async def test_an_author_from_another_workspace_in_a_slack_connect_channel_is_the_customer(
    stack: Stack,
) -> None:
    ts = stack.slack.post_message_in(
        stack.channels["feedback"],
        "Our exports fail since Monday",
        user="U0GLOBEX77",
        team=EXTERNAL_TEAM,
        user_team=EXTERNAL_TEAM,
    )
    card = await reacted_card(stack, ts, "U0GLOBEX77")
    text = shown(stack, card)
    assert "<@U0GLOBEX77>" in text and "1 customer" in text and "No customer yet" not in text
    (issue,) = await stored(stack)
    assert issue.customer_id is not None and issue.counts_as_customer


async def test_the_shortcut_never_makes_a_colleague_the_customer_and_prefills_a_mentioned_email(
    stack: Stack,
) -> None:
    feedback = stack.channels["feedback"]
    text = "Globex (ops@globex.test) says the invoice PDF is blank"
    ts = stack.slack.post_message_in(feedback, text, user=RELAYER)
    shortcut = {
        "type": "message_action",
        "callback_id": Callback.LOG_MESSAGE_SHORTCUT,
        "trigger_id": stack.slack.new_trigger_id(),
        "user": {"id": AGENT, "name": "agent"},
        "channel": {"id": feedback, "name": "customer-feedback"},
        "message": {"type": "message", "user": RELAYER, "ts": ts, "text": text, "team": stack.slack.team_id},
        "message_ts": ts,
        "response_url": "https://hooks.slack.com/app/T0/1/abc",
    }
    assert (await stack.slack_interaction(shortcut)).status == 200
    view = (await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened"))[0]
    email_input = next(b for b in view["blocks"] if b["block_id"] == Block.REPORT_CUSTOMER_EMAIL)
    assert email_input["element"]["initial_value"] == "ops@globex.test"
    # Emptied by the agent: the colleague who wrote the message does not stand in for the customer.
    refused = await stack.slack_interaction(submit(view, {Block.REPORT_SUBJECT: "Invoice PDF is blank"}))
    assert Block.REPORT_CUSTOMER_NAME in (await refused.json())["errors"]
    assert await stored(stack) == []


async def test_customers_in_internal_email_domains_are_never_counted(
    database_url: str, slack: FakeSlack
) -> None:
    config = {"internal": {"email_domains": ["supportbridge.test"]}, "thresholds": [2]}
    async with running_app(database_url, slack, add_channels(slack), config_overrides=config) as stack:
        colleague = make_issue_payload(
            customer={"id": "c-1", "name": "Colleague", "email": "me@Supportbridge.test"}
        )
        response = await stack.webhook(colleague)
        assert response.status == 202
        issue_id = (await response.json())["id"]
        recorded = await stack.wait_for_recorded_card(issue_id)
        card = stack.slack.message(recorded.channel, recorded.ts)
        assert "0 customers" in shown(stack, card)
        (issue,) = await stored(stack)
        assert not issue.counts_as_customer
        # Nor in the problem summaries behind search, suggestions and the digest.
        rows = await stack.runtime.database.transaction(
            lambda conn: problem_summaries(conn, [issue.problem_id])
        )
        assert [int(r.customers) for r in rows] == [0]


async def test_the_webhook_refuses_a_report_without_a_customer(stack: Stack) -> None:
    response = await stack.webhook(make_issue_payload(customer=None))
    assert response.status == 400
    assert (await response.json())["field"] == "customer"
    assert await stored(stack) == []


async def test_the_shortcut_names_the_helpdesk_ticket_a_message_links_to(stack: Stack) -> None:
    feedback = stack.channels["feedback"]
    text = "Same as <https://globex.zendesk.com/agent/tickets/4711|this ticket>: PDF export is blank"
    ts = stack.slack.post_message_in(feedback, text, user=RELAYER)
    shortcut = {
        "type": "message_action",
        "callback_id": Callback.LOG_MESSAGE_SHORTCUT,
        "trigger_id": stack.slack.new_trigger_id(),
        "user": {"id": AGENT, "name": "agent"},
        "channel": {"id": feedback, "name": "customer-feedback"},
        "message": {"type": "message", "user": RELAYER, "ts": ts, "text": text, "team": stack.slack.team_id},
        "message_ts": ts,
        "response_url": "https://hooks.slack.com/app/T0/1/abc",
    }
    assert (await stack.slack_interaction(shortcut)).status == 200
    view = (await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened"))[0]
    name_input = next(b for b in view["blocks"] if b["block_id"] == Block.REPORT_CUSTOMER_NAME)
    assert name_input["element"]["initial_value"] == "Zendesk ticket 4711"
