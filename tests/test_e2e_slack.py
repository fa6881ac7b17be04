"""End to end from Slack's side: really signed events, shortcuts, commands and modal submissions
through the real app, with the fake Slack checking every call the bot makes back."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from sqlalchemy import select

from bot import metrics
from bot.ids import INPUT, Block, Callback
from db.models import Issue
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, add_channels, running_app, slack_headers

# The fake numbers workspace members in order of creation: the bot, then these two.
AGENT = "U0000000002"
CUSTOMER = "U0000000003"

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture(autouse=True)
def people(slack: FakeSlack) -> None:
    """The agent who logs issues and the customer who wrote the messages (created first, so the
    fake numbers them right after its bot user)."""
    assert (slack.add_user("agent"), slack.add_user("customer")) == (AGENT, CUSTOMER)


async def issues(stack: Stack) -> list[Issue]:
    async with stack.runtime.database.session() as session:
        return list(await session.scalars(select(Issue).order_by(Issue.id)))


def reaction_event(
    stack: Stack, ts: str, *, channel: str | None = None, reaction: str = "ticket"
) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": AGENT,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel or stack.channels["feedback"], "ts": ts},
        "item_user": CUSTOMER,
        "event_ts": stack.slack.next_ts(),
    }


def submission(view: dict[str, Any], values: dict[str, Any], *, user: str = AGENT) -> dict[str, Any]:
    """A view_submission payload for a modal the bot opened, with the person's answers."""
    submitted = copy.deepcopy(view)
    state: dict[str, Any] = {}
    for block, value in values.items():
        if isinstance(value, list):
            state[block] = {
                INPUT: {
                    "type": "multi_static_select",
                    "selected_options": [
                        {"text": {"type": "plain_text", "text": v}, "value": v} for v in value
                    ],
                }
            }
        elif block == Block.REPORT_SEVERITY:
            state[block] = {
                INPUT: {
                    "type": "static_select",
                    "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
                }
            }
        else:
            state[block] = {INPUT: {"type": "plain_text_input", "value": value}}
    submitted["state"] = {"values": state}
    return {
        "type": "view_submission",
        "user": {"id": user, "username": "agent", "team_id": "T0"},
        "view": submitted,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }


async def test_reaction_logs_the_message_once_even_when_slack_retries_the_event(stack: Stack) -> None:
    feedback = stack.channels["feedback"]
    ts = stack.slack.post_message_in(
        feedback, "Checkout &amp; payment page is blank on Safari", user=CUSTOMER
    )
    event = reaction_event(stack, ts)
    responses = [await stack.slack_event(event, event_id="Ev0REACT001", retry=n or None) for n in range(4)]
    assert [r.status for r in responses] == [200, 200, 200, 200]
    cards = await stack.wait_for_cards(stack.channels["default"], 1)
    await stack.slack.wait_for(
        lambda: stack.slack.ephemerals(feedback, AGENT), message="confirmation to the agent"
    )
    await asyncio.sleep(0.3)
    logged = await issues(stack)
    assert len(logged) == 1
    issue = logged[0]
    assert (issue.source, issue.external_id, issue.subject) == (
        "slack",
        f"{feedback}:{ts}",
        "Checkout & payment page is blank on Safari",
    )
    assert issue.reported_by == AGENT and issue.permalink and ts.replace(".", "") in issue.permalink
    assert len(stack.slack.messages(stack.channels["default"])) == 1
    assert len(stack.slack.ephemerals(feedback, AGENT)) == 1
    assert f"#{issue.id}" in stack.slack.ephemerals(feedback, AGENT)[0]["text"]
    # The author is a member of our workspace, so not the customer: the card says none is set yet,
    # and links back to the message.
    rendered = str(cards[0]["blocks"])
    assert f"<@{CUSTOMER}>" not in rendered and "No customer yet" in rendered
    assert "Open Slack message" in rendered and issue.customer_id is None


def slack_intakes(result: str, reason: str = "") -> float:
    labels = {"source": "slack", "result": result, "reason": reason}
    return metrics.REGISTRY.get_sample_value("supportbridge_intakes_total", labels) or 0.0


async def test_a_second_reaction_to_the_same_message_does_not_log_it_twice(stack: Stack) -> None:
    feedback = stack.channels["feedback"]
    new, repeat = slack_intakes("new"), slack_intakes("repeat")
    ts = stack.slack.post_message_in(feedback, "Search is slow", user=CUSTOMER)
    await stack.slack_event(reaction_event(stack, ts))
    await stack.wait_for_cards(stack.channels["default"], 1)
    await stack.slack_event(reaction_event(stack, ts))  # another person, another event id
    await stack.slack.wait_for(
        lambda: len(stack.slack.ephemerals(feedback)) >= 2, message="two confirmations"
    )
    assert len(await issues(stack)) == 1
    assert "already logged" in stack.slack.ephemerals(feedback)[-1]["text"]
    assert (slack_intakes("new"), slack_intakes("repeat")) == (new + 1, repeat + 1)


async def test_other_reactions_and_unmonitored_channels_are_acknowledged_and_ignored(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    monitored = {"slack_intake": {"reaction": "ticket", "monitored_channels": [channels["feedback"]]}}
    async with running_app(database_url, slack, channels, config_overrides=monitored) as stack:
        elsewhere = slack.post_message_in(channels["default"], "not monitored", user=CUSTOMER)
        here = slack.post_message_in(channels["feedback"], "monitored", user=CUSTOMER)
        assert (
            await stack.slack_event(reaction_event(stack, elsewhere, channel=channels["default"]))
        ).status == 200
        assert (await stack.slack_event(reaction_event(stack, here, reaction="thumbsup"))).status == 200
        assert (
            await stack.slack_event(
                {
                    "type": "app_mention",
                    "user": AGENT,
                    "text": "hi",
                    "ts": here,
                    "channel": channels["feedback"],
                    "event_ts": here,
                }
            )
        ).status == 200
        await asyncio.sleep(0.3)
        assert await issues(stack) == []


async def test_bad_slack_signature_is_401_and_does_nothing(stack: Stack) -> None:
    ts = stack.slack.post_message_in(stack.channels["feedback"], "hello", user=CUSTOMER)
    response = await stack.slack_event(reaction_event(stack, ts), secret="not-the-secret")
    assert response.status == 401
    await asyncio.sleep(0.2)
    assert await issues(stack) == []


async def test_stale_slack_timestamp_is_401(stack: Stack) -> None:
    body = '{"type":"event_callback","event":{"type":"app_mention"}}'
    headers = {**slack_headers(body, timestamp=1_600_000_000), "Content-Type": "application/json"}
    response = await stack.http.post(stack.url("/slack/events"), data=body, headers=headers)
    assert response.status == 401


async def test_url_verification_challenge_is_answered(stack: Stack) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = f'{{"token":"x","challenge":"{challenge}","type":"url_verification"}}'
    headers = {**slack_headers(body), "Content-Type": "application/json"}
    response = await stack.http.post(stack.url("/slack/events"), data=body, headers=headers)
    assert response.status == 200
    assert challenge in await response.text()


async def test_message_shortcut_opens_a_prefilled_modal_and_submitting_logs_the_issue(stack: Stack) -> None:
    feedback = stack.channels["feedback"]
    text = "Exports fail with error 502\nSince the upgrade on Monday, every CSV export fails."
    ts = stack.slack.post_message_in(feedback, text, user=CUSTOMER)
    new, repeat = slack_intakes("new"), slack_intakes("repeat")
    shortcut = {
        "type": "message_action",
        "callback_id": Callback.LOG_MESSAGE_SHORTCUT,
        "trigger_id": stack.slack.new_trigger_id(),
        "user": {"id": AGENT, "name": "agent"},
        "channel": {"id": feedback, "name": "customer-feedback"},
        "message": {"type": "message", "user": CUSTOMER, "ts": ts, "text": text},
        "message_ts": ts,
        "response_url": "https://hooks.slack.com/app/T0/1/abc",
    }
    assert (await stack.slack_interaction(shortcut)).status == 200
    view = (await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened"))[0]
    assert view["callback_id"] == Callback.REPORT_MODAL
    subject_input = view["blocks"][0]["element"]
    assert subject_input["initial_value"] == "Exports fail with error 502"
    answers = {
        Block.REPORT_SUBJECT: "Exports fail with error 502",
        Block.REPORT_BODY: text,
        Block.REPORT_CUSTOMER_NAME: "Ada Lovelace",
        Block.REPORT_CUSTOMER_EMAIL: "ada@analytical.test",
        Block.REPORT_CUSTOMER_COMPANY: "Analytical Engines",
        Block.REPORT_PRODUCT_AREA: "billing",
        Block.REPORT_SEVERITY: "high",
        Block.REPORT_TAGS: ["bug", "billing"],
    }
    response = await stack.slack_interaction(submission(view, answers))
    assert response.status == 200 and (await response.text()) == ""
    cards = await stack.wait_for_cards(stack.channels["billing"], 1)
    logged = await issues(stack)
    assert len(logged) == 1
    issue = logged[0]
    assert (issue.external_id, issue.severity, issue.product_area) == (f"{feedback}:{ts}", "high", "billing")
    await stack.wait_for_recorded_card(issue.id)
    await stack.slack.wait_for(
        lambda: "Open Slack message" in str(stack.slack.messages(stack.channels["billing"])[0]["blocks"]),
        message="card links back to the message",
    )
    assert "Ada Lovelace" in str(cards[0]["blocks"])
    await stack.slack.wait_for(lambda: stack.slack.ephemerals(feedback, AGENT), message="confirmation")
    # Slack retrying the submission, or logging the same message again, adds nothing.
    again = await stack.slack_interaction(submission(view, answers))
    assert again.status == 200
    await asyncio.sleep(0.3)
    assert len(await issues(stack)) == 1
    assert len(stack.slack.messages(stack.channels["billing"])) == 1
    assert (slack_intakes("new"), slack_intakes("repeat")) == (new + 1, repeat + 1)


async def test_support_report_opens_the_form_and_validation_errors_keep_it_open(stack: Stack) -> None:
    response = await stack.slash_command("report", user=AGENT, channel=stack.channels["feedback"])
    assert response.status == 200
    view = (await stack.slack.wait_for(lambda: stack.slack.modals, message="modal opened"))[0]
    assert "initial_value" not in view["blocks"][0]["element"]
    refused = await stack.slack_interaction(
        submission(
            view,
            {Block.REPORT_SUBJECT: "Dark mode is unreadable", Block.REPORT_CUSTOMER_EMAIL: "not an email"},
        )
    )
    errors = (await refused.json())["errors"]
    assert refused.status == 200 and set(errors) == {Block.REPORT_CUSTOMER_EMAIL}
    no_customer = await stack.slack_interaction(
        submission(view, {Block.REPORT_SUBJECT: "Dark mode is unreadable"})
    )
    assert set((await no_customer.json())["errors"]) == {Block.REPORT_CUSTOMER_NAME}
    assert await issues(stack) == []
    accepted = await stack.slack_interaction(
        submission(
            view,
            {
                Block.REPORT_SUBJECT: "Dark mode is unreadable",
                Block.REPORT_CUSTOMER_NAME: "Grace",
                Block.REPORT_SEVERITY: "urgent",
            },
        )
    )
    assert accepted.status == 200
    await stack.wait_for_cards(stack.channels["urgent"], 1)
    logged = await issues(stack)
    assert [(i.subject, i.severity, i.source) for i in logged] == [
        ("Dark mode is unreadable", "urgent", "slack")
    ]


async def test_support_help_and_unknown_subcommands_answer_privately(stack: Stack) -> None:
    help_response = await stack.slash_command("help", user=AGENT, channel=stack.channels["feedback"])
    # A plain-text answer to a command is shown to the person who typed it only.
    assert help_response.status == 200 and "/support report" in await help_response.text()
    unknown = await stack.slash_command("<!channel>", user=AGENT, channel=stack.channels["feedback"])
    text = await unknown.text()
    assert "don't know" in text and "<!channel>" not in text


async def test_link_buttons_on_cards_are_acknowledged(stack: Stack) -> None:
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": AGENT},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "message", "channel_id": stack.channels["default"], "message_ts": "1.1"},
            "channel": {"id": stack.channels["default"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": "issue.open_link",
                    "block_id": "links.1",
                    "action_ts": "1700000000.1",
                    "text": {"type": "plain_text", "text": "Open"},
                }
            ],
            "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        }
    )
    assert response.status == 200
