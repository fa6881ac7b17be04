"""The Jira fields of "Escalate with details…", end to end: project, issue type and priority are
external selects whose options Slack asks for (really signed `block_suggestion` requests through the
real app) and the bot answers from the fake Jira's create metadata, checked against Jira's contract."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.ids import Action, Block
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from tests.conftest import JIRA_WEBHOOK_SECRET
from tests.harness import Stack, add_channels, click, new_card, running_app, shown

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

PICKERS = {
    Block.ESCALATE_PROJECT: Action.ESCALATE_PICK_PROJECT,
    Block.ESCALATE_TYPE: Action.ESCALATE_PICK_TYPE,
    Block.ESCALATE_PRIORITY: Action.ESCALATE_PICK_PRIORITY,
}


@pytest.fixture
async def fields_stack(database_url: str, slack: FakeSlack, jira: FakeJira) -> AsyncIterator[Stack]:
    """The app and the fake Jira, whose site has three projects (OPS with its own issue types, and a
    sub-task type nobody can escalate to); billing issues go to the BILL project."""
    jira.add_project("WEB", "Web Platform")
    jira.add_issue_type("Sub-task", subtask=True)
    jira.add_issue_type("Incident")
    jira.add_project("OPS", "Operations", issue_types=["Incident", "Bug", "Sub-task"])
    jira.add_project("BILL", "Billing")
    channels = add_channels(slack)
    settings = {
        "jira_url": jira.url,
        "jira_email": jira.email,
        "jira_api_token": jira.api_token,
        "jira_webhook_secret": JIRA_WEBHOOK_SECRET,
    }
    config = {
        "routes": [
            {"match": {"product_area": "billing"}, "channel": channels["billing"], "jira_project": "BILL"}
        ],
        "jira": {"project": "PROJ", "issue_type": "Bug", "max_attempts": 2, "search_lag_seconds": 0.1},
    }
    async with running_app(
        database_url, slack, channels, settings_overrides=settings, config_overrides=config
    ) as running:
        running.extra["jira"] = jira
        yield running


@pytest.fixture
def agent(slack: FakeSlack) -> str:
    return slack.add_user("ana")


async def open_modal(stack: Stack, card: dict[str, Any], user: str) -> dict[str, Any]:
    before = len(stack.slack.modals)
    await click(stack, card, "issue.escalate_more", user, selected_option={"value": "details"})
    await stack.slack.wait_for(lambda: len(stack.slack.modals) > before, message="modal opened")
    return stack.slack.modals[-1]


def picked(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def state_of(chosen: dict[str, str]) -> dict[str, Any]:
    """The modal's state.values as Slack sends it: each external select's selected option."""
    return {
        block: {PICKERS[block]: {"type": "external_select", "selected_option": picked(value)}}
        for block, value in chosen.items()
    }


async def suggest(
    stack: Stack,
    view: dict[str, Any],
    block: str,
    user: str,
    typed: str = "",
    chosen: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """What Slack asks when someone opens or types in one of the modal's Jira fields."""
    asked = copy.deepcopy(view)
    asked["state"] = {"values": state_of(chosen or {})}
    response = await stack.slack_interaction(
        {
            "type": "block_suggestion",
            "user": {"id": user},
            "action_id": PICKERS[block],
            "block_id": block,
            "value": typed,
            "container": {"type": "view", "view_id": view["id"]},
            "view": asked,
        }
    )
    assert response.status == 200
    return list((await response.json())["options"])


def values(options: list[dict[str, Any]]) -> list[str]:
    return [o["value"] for o in options]


def element(view: dict[str, Any], block: str) -> dict[str, Any]:
    return next(b["element"] for b in view["blocks"] if b["block_id"] == block)


def submission(view: dict[str, Any], chosen: dict[str, str], summary: str, user: str) -> dict[str, Any]:
    submitted = copy.deepcopy(view)
    state = state_of(chosen)
    state[Block.ESCALATE_SUMMARY] = {"value": {"type": "plain_text_input", "value": summary}}
    submitted["state"] = {"values": state}
    return {"type": "view_submission", "user": {"id": user}, "view": submitted, "trigger_id": "1.2.3"}


async def test_each_field_offers_what_jira_has_filtered_by_what_is_typed(
    fields_stack: Stack, agent: str
) -> None:
    stack = fields_stack
    _, card = await new_card(stack, severity="high")
    view = await open_modal(stack, card, agent)

    projects = await suggest(stack, view, Block.ESCALATE_PROJECT, agent)
    assert values(projects) == ["PROJ", "WEB", "OPS", "BILL"]
    assert projects[1]["text"]["text"] == "Web Platform (WEB)"
    assert values(await suggest(stack, view, Block.ESCALATE_PROJECT, agent, "platf")) == ["WEB"]
    assert values(await suggest(stack, view, Block.ESCALATE_PROJECT, agent, "op")) == ["OPS"]
    assert await suggest(stack, view, Block.ESCALATE_PROJECT, agent, "nothing like it") == []

    priorities = await suggest(stack, view, Block.ESCALATE_PRIORITY, agent)
    assert values(priorities) == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert values(await suggest(stack, view, Block.ESCALATE_PRIORITY, agent, "HIGH")) == ["Highest", "High"]
    assert values(await suggest(stack, view, Block.ESCALATE_PRIORITY, agent, "low")) == ["Low", "Lowest"]

    # Read once and kept: typing asks Jira nothing more.
    jira: FakeJira = stack.extra["jira"]
    assert len(jira.calls_to("GET project")) == 1
    assert len(jira.calls_to("GET priority")) == 1


async def test_issue_types_are_those_of_the_chosen_project(fields_stack: Stack, agent: str) -> None:
    stack = fields_stack
    _, card = await new_card(stack)
    view = await open_modal(stack, card, agent)
    # Nothing chosen yet: the default project's types (a sub-task type is never offered).
    assert values(await suggest(stack, view, Block.ESCALATE_TYPE, agent)) == ["Task", "Bug", "Story"]
    ops = {Block.ESCALATE_PROJECT: "OPS"}
    assert values(await suggest(stack, view, Block.ESCALATE_TYPE, agent, chosen=ops)) == ["Incident", "Bug"]
    assert values(await suggest(stack, view, Block.ESCALATE_TYPE, agent, "inc", chosen=ops)) == ["Incident"]
    # A project Jira does not have (a forged request): no types, no error.
    assert (
        await suggest(stack, view, Block.ESCALATE_TYPE, agent, chosen={Block.ESCALATE_PROJECT: "GONE"}) == []
    )
    assert (
        await suggest(stack, view, Block.ESCALATE_TYPE, agent, chosen={Block.ESCALATE_PROJECT: "../x"}) == []
    )


async def test_the_routes_defaults_are_preselected(fields_stack: Stack, agent: str) -> None:
    stack = fields_stack
    _, billing = await new_card(stack, product_area="billing", severity="low")
    view = await open_modal(stack, billing, agent)
    assert element(view, Block.ESCALATE_PROJECT)["type"] == "external_select"
    assert element(view, Block.ESCALATE_PROJECT)["min_query_length"] == 0
    assert element(view, Block.ESCALATE_PROJECT)["initial_option"]["value"] == "BILL"  # the route's
    assert element(view, Block.ESCALATE_TYPE)["initial_option"]["value"] == "Bug"  # jira.issue_type
    assert element(view, Block.ESCALATE_PRIORITY)["initial_option"]["value"] == "Low"  # by severity

    _, other = await new_card(stack, severity="urgent")
    view = await open_modal(stack, other, agent)
    project = element(view, Block.ESCALATE_PROJECT)["initial_option"]
    assert project["value"] == "PROJ"  # jira.project: no route names one
    # The modal read Jira's lists as it opened: the default project shows by its name.
    assert project["text"]["text"] == "Proj Project (PROJ)"
    assert element(view, Block.ESCALATE_PRIORITY)["initial_option"]["value"] == "Highest"


async def test_a_submission_creates_the_issue_with_what_was_picked(fields_stack: Stack, agent: str) -> None:
    stack = fields_stack
    jira: FakeJira = stack.extra["jira"]
    _, card = await new_card(stack)
    view = await open_modal(stack, card, agent)
    chosen = {Block.ESCALATE_PROJECT: "OPS", Block.ESCALATE_TYPE: "Task", Block.ESCALATE_PRIORITY: "Lowest"}
    await suggest(stack, view, Block.ESCALATE_TYPE, agent, chosen={Block.ESCALATE_PROJECT: "OPS"})

    # Task was picked for PROJ, then the project changed to OPS, which has no Task: refused on the field.
    refused = await stack.slack_interaction(submission(view, chosen, "Exports fail", agent))
    answer = await refused.json()
    assert answer["response_action"] == "errors"
    assert "not an issue type of OPS" in answer["errors"][Block.ESCALATE_TYPE]
    refused = await stack.slack_interaction(
        submission(view, {**chosen, Block.ESCALATE_PROJECT: "NOPE"}, "Exports fail", agent)
    )
    assert "no project NOPE" in (await refused.json())["errors"][Block.ESCALATE_PROJECT]
    empty = await stack.slack_interaction(submission(view, {}, "Exports fail", agent))
    assert set((await empty.json())["errors"]) == {Block.ESCALATE_PROJECT, Block.ESCALATE_TYPE}
    assert not jira.calls_to("POST issue")

    chosen[Block.ESCALATE_TYPE] = "Incident"
    accepted = await stack.slack_interaction(submission(view, chosen, "Exports fail", agent))
    assert accepted.status == 200 and await accepted.text() == ""
    await stack.slack.wait_for(lambda: "OPS-1" in shown(stack, card), timeout=15, message="created in OPS")
    fields = jira.issue("OPS-1")["fields"]
    assert (fields["issuetype"], fields["priority"], fields["summary"]) == (
        "Incident",
        "Lowest",
        "Exports fail",
    )


async def test_jira_down_or_slow_gives_empty_options_in_time(fields_stack: Stack, agent: str) -> None:
    stack = fields_stack
    jira: FakeJira = stack.extra["jira"]
    _, card = await new_card(stack)
    jira.fail("GET project", times=None, status=503)
    jira.fail("GET priority", times=None, slow=4.0)
    view = await open_modal(stack, card, agent)  # its warm-up reads fail or hang

    started = time.monotonic()
    assert await suggest(stack, view, Block.ESCALATE_PROJECT, agent) == []
    # Slack's retry of a slow options request, and a second keystroke: neither waits past ~2 s,
    # and both share the one read still under way instead of asking Jira again.
    answers = await asyncio.gather(
        suggest(stack, view, Block.ESCALATE_PRIORITY, agent),
        suggest(stack, view, Block.ESCALATE_PRIORITY, agent, "hi"),
    )
    assert answers == [[], []]
    assert time.monotonic() - started < 2.9  # Slack's deadline is 3 s
    assert len(jira.calls_to("GET priority")) == 1
    # The failure is not asked again at every keystroke.
    assert await suggest(stack, view, Block.ESCALATE_PROJECT, agent, "w") == []
    assert len(jira.calls_to("GET project")) == 1

    # The slow read finishes in the background and fills the cache: the next request is answered.
    await stack.slack.wait_for(
        lambda: stack.runtime.jira_fields is not None and stack.runtime.jira_fields.known_priorities(),
        timeout=10,
        message="the slow read of the priorities arrived",
    )
    assert values(await suggest(stack, view, Block.ESCALATE_PRIORITY, agent, "hi")) == ["Highest", "High"]

    # With Jira down the defaults still escalate: they are preselected, not looked up.
    accepted = await stack.slack_interaction(
        submission(
            view,
            {Block.ESCALATE_PROJECT: "PROJ", Block.ESCALATE_TYPE: "Bug", Block.ESCALATE_PRIORITY: "Medium"},
            "Exports fail",
            agent,
        )
    )
    assert accepted.status == 200 and await accepted.text() == ""
    await stack.slack.wait_for(lambda: "PROJ-1" in shown(stack, card), timeout=15, message="escalated")
