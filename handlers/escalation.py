"""Escalation and closing the loop, on the card: escalate (at once, with details, or by linking an
existing Jira issue), retry, mark customers notified, write a won't-do rationale. Thin: ack, parse,
call the escalation service; Jira and Slack calls go through the outbox."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.ids import ESCALATE_WITH_DETAILS, LINK_EXISTING, Action, Block, Callback
from bot.runtime import Runtime
from bot.services import csat, escalation
from bot.services.jira_fields import JiraFieldChoices
from bot.views.escalation import (
    render_escalate_modal,
    render_field_options,
    render_link_modal,
    render_rationale_modal,
)
from handlers import payload
from handlers.common import Refused, answer_form, perform, run_action, runtime_of, tell
from integrations.jira_client import JiraRejected, JiraUnavailable, parse_key

log = logging.getLogger(__name__)

# A view submission must be answered within 3 s; checking a key in Jira gets this much of it.
JIRA_CHECK_SECONDS = 2.0
NOT_CONFIGURED = "Jira is not set up for this workspace (JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN)."
ESCALATING = ":outbox_tray: Escalating to Jira… the card shows the issue as soon as Jira has it."
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PROJECT_KEY_HELP = "A Jira project key is letters and digits, like SUP or WEB2."


def _picked(view: payload.View, block: str, action: str) -> str:
    chosen = view.input(block, action)
    # A modal opened before these fields came from Jira has a text input (INPUT) instead.
    answer = chosen.selected if chosen.is_select else view.input(block).answer
    return " ".join(CONTROL_CHARACTERS.sub(" ", str(answer or "")).split())


def parse_escalate_submission(
    view: payload.View, choices: JiraFieldChoices | None = None
) -> escalation.EscalationDetails | dict[str, str]:
    """What was picked, checked. `choices`: what Jira offers, as far as it is cached (never a Jira call
    here): a project or an issue type that is not on Jira's list is refused on its field."""
    project = _picked(view, Block.ESCALATE_PROJECT, Action.ESCALATE_PICK_PROJECT).upper()
    issue_type = _picked(view, Block.ESCALATE_TYPE, Action.ESCALATE_PICK_TYPE)
    priority = _picked(view, Block.ESCALATE_PRIORITY, Action.ESCALATE_PICK_PRIORITY) or None
    summary = " ".join(str(view.input(Block.ESCALATE_SUMMARY).answer or "").split())
    errors: dict[str, str] = {}
    if not project:
        errors[Block.ESCALATE_PROJECT] = "Choose the Jira project."
    elif not project.replace("_", "").isalnum() or not project[0].isalpha() or len(project) > 100:
        errors[Block.ESCALATE_PROJECT] = PROJECT_KEY_HELP
    elif choices is not None and (known := choices.known_projects()) is not None and project not in known:
        errors[Block.ESCALATE_PROJECT] = (
            f"Jira has no project {project[:20]} the bot can see: choose one from the list."
        )
    if not issue_type:
        errors[Block.ESCALATE_TYPE] = "Choose an issue type, like Bug or Task."
    elif len(issue_type) > 150:
        errors[Block.ESCALATE_TYPE] = "Choose an issue type from the list."
    elif (
        Block.ESCALATE_PROJECT not in errors
        and choices is not None
        and (types := choices.known_issue_types(project)) is not None
        and issue_type not in types
    ):
        errors[Block.ESCALATE_TYPE] = (
            f"{issue_type[:40]} is not an issue type of {project[:20]}: choose one from the list again."
        )
    if priority is not None and len(priority) > 150:
        errors[Block.ESCALATE_PRIORITY] = "Choose a priority from the list."
    if not summary:
        errors[Block.ESCALATE_SUMMARY] = "The summary cannot be empty."
    if errors:
        return errors
    return escalation.EscalationDetails(
        project=project, issue_type=issue_type, priority=priority, summary=summary
    )


async def escalate(
    runtime: Runtime, clicked: payload.Action, issue_id: int, details: escalation.EscalationDetails | None
) -> None:
    user = clicked.user_id
    result = await run_action(
        runtime, clicked, lambda conn: escalation.escalate(conn, issue_id, user, details), what="escalate"
    )
    if result is not None:
        await tell(runtime, clicked, ESCALATING)


async def on_escalate(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """ "Escalate to Jira" and "Retry escalation": the same request (a failed escalation is retried)."""
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    issue_id = clicked.state_int("issue")
    if issue_id is None:
        return
    if runtime.jira is None:
        await tell(runtime, clicked, NOT_CONFIGURED)
        return
    await escalate(runtime, clicked, issue_id, None)


async def on_more(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    issue_id = clicked.state_int("issue")
    if issue_id is None or runtime.slack is None:
        return
    if runtime.jira is None:
        await tell(runtime, clicked, NOT_CONFIGURED)
        return
    if clicked.selected == LINK_EXISTING:
        await runtime.slack.open_view(clicked.require_trigger(), render_link_modal(issue_id))
    elif clicked.selected == ESCALATE_WITH_DETAILS:
        defaults = await perform(
            runtime,
            lambda conn: escalation.escalation_prefill(conn, runtime.config, issue_id),
            what="escalation_prefill",
        )
        if isinstance(defaults, Refused):
            if not defaults.outage:  # in an outage the note could not be queued either
                await tell(runtime, clicked, defaults.text)
            return
        label = None
        if runtime.jira_fields is not None:
            runtime.jira_fields.warm(defaults.project)  # the first options request finds them read
            label = runtime.jira_fields.project_label(defaults.project)
        await runtime.slack.open_view(
            clicked.require_trigger(), render_escalate_modal(issue_id, defaults, label)
        )


async def on_escalate_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    issue_id = view.metadata_int("issue")
    parsed = parse_escalate_submission(view, runtime.jira_fields)
    if isinstance(parsed, dict):
        await ack(response_action="errors", errors=parsed)
        return
    if issue_id is None:
        await ack()
        return
    user = view.user_id
    done = await perform(
        runtime, lambda conn: escalation.escalate(conn, issue_id, user, parsed), what="escalate_with_details"
    )
    await answer_form(ack, done, Block.ESCALATE_SUMMARY)


async def project_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """The Jira projects matching what is typed (Jira down or slow: no options, never an error)."""
    choices = runtime_of(context).jira_fields
    asked = payload.OptionsRequest.from_body(body)
    found = await choices.projects(asked.query) if choices is not None else []
    await ack(options=render_field_options(found))


async def issue_type_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """The issue types of the project chosen in the modal (until one is chosen, the default one)."""
    choices = runtime_of(context).jira_fields
    asked = payload.OptionsRequest.from_body(body)
    project = ""
    if asked.view is not None:
        chosen = asked.view.input(Block.ESCALATE_PROJECT, Action.ESCALATE_PICK_PROJECT).selected
        default = asked.view.metadata.get("project")
        project = chosen or (default if isinstance(default, str) else "")
    found = await choices.issue_types(project, asked.query) if choices is not None else []
    await ack(options=render_field_options(found))


async def priority_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    choices = runtime_of(context).jira_fields
    asked = payload.OptionsRequest.from_body(body)
    found = await choices.priorities(asked.query) if choices is not None else []
    await ack(options=render_field_options(found))


async def on_link_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    issue_id = view.metadata_int("issue")
    key = parse_key(str(view.input(Block.LINK_JIRA_KEY).answer or ""))
    if key is None:
        await ack(
            response_action="errors",
            errors={Block.LINK_JIRA_KEY: "That is not a Jira issue key or link (like PROJ-123)."},
        )
        return
    if issue_id is None or runtime.jira is None:
        await ack()
        return

    def fail(message: str) -> Any:
        return ack(response_action="errors", errors={Block.LINK_JIRA_KEY: message})

    try:
        lookup = runtime.jira.get_issue(key, request_timeout=JIRA_CHECK_SECONDS)  # the thread stops too
        found = await asyncio.wait_for(lookup, timeout=JIRA_CHECK_SECONDS)
    except (TimeoutError, JiraUnavailable):
        await fail("Jira did not answer in time. Try again in a moment.")
        return
    except JiraRejected as exc:
        await fail(f"Jira refused: {exc}"[:300])
        return
    if found is None:
        await fail(f"{key} does not exist in Jira, or the bot cannot see it.")
        return
    user = view.user_id
    done = await perform(
        runtime,
        lambda conn: escalation.link_existing(conn, issue_id, user, found.key, found.url, found.snapshot),
        what="link_jira",
    )
    if isinstance(done, Refused):
        await fail(done.text)
        return
    await ack()


async def on_mark(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """ "Mark notified" for one customer (the button names it) or, without one, for all."""
    await ack()
    clicked = payload.Action.from_body(body)
    state = clicked.state
    problem, customer = state.get("problem"), state.get("customer")
    if not isinstance(problem, int) or not isinstance(customer, int | None):
        return
    user = clicked.user_id
    runtime = runtime_of(context)
    configured = frozenset(runtime.replies)
    await run_action(
        runtime,
        clicked,
        lambda conn: csat.mark_notified_and_ask(conn, runtime.config, configured, problem, customer, user),
        what="mark_notified",
    )


async def on_write_rationale(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    problem = clicked.state_int("problem")
    if problem is None or runtime.slack is None:
        return
    found = await runtime.database.transaction(lambda conn: escalation.problem_for_rationale(conn, problem))
    if found is None:
        await tell(runtime, clicked, "That problem no longer exists.")
        return
    subject, current = found
    if current:
        # An old request whose button should be gone: say so, and make sure the requests show it.
        await perform(
            runtime, lambda conn: escalation.refresh_rationale_requests(conn, problem), what="rationale"
        )
        await tell(runtime, clicked, "The rationale is already written: it's in the card's thread.")
        return
    await runtime.slack.open_view(
        clicked.require_trigger(), render_rationale_modal(problem, subject, current)
    )


async def on_rationale_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    problem = view.metadata_int("problem")
    text = str(view.input(Block.RATIONALE_TEXT).answer or "")
    if problem is None:
        await ack()
        return
    user = view.user_id
    done = await perform(
        runtime, lambda conn: escalation.store_rationale(conn, problem, user, text), what="rationale"
    )
    await answer_form(ack, done, Block.RATIONALE_TEXT)


def register(app: AsyncApp) -> None:
    app.action(Action.ESCALATE)(on_escalate)
    app.action(Action.ESCALATE_RETRY)(on_escalate)
    app.action(Action.ESCALATE_MORE)(on_more)
    app.view(Callback.ESCALATE_MODAL)(on_escalate_submitted)
    app.options(Action.ESCALATE_PICK_PROJECT)(project_options)
    app.options(Action.ESCALATE_PICK_TYPE)(issue_type_options)
    app.options(Action.ESCALATE_PICK_PRIORITY)(priority_options)
    app.view(Callback.LINK_JIRA_MODAL)(on_link_submitted)
    app.action(Action.MARK_NOTIFIED)(on_mark)
    app.action(Action.MARK_ALL_NOTIFIED)(on_mark)
    app.action(Action.WRITE_RATIONALE)(on_write_rationale)
    app.view(Callback.RATIONALE_MODAL)(on_rationale_submitted)
