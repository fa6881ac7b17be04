"""Escalation and closing the loop, on the card: escalate (at once, with details, or by linking an
existing Jira issue), retry, mark customers notified, write a won't-do rationale. Thin: ack, parse,
call the escalation service; Jira and Slack calls go through the outbox."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.ids import ESCALATE_WITH_DETAILS, LINK_EXISTING, Action, Block, Callback
from bot.runtime import Runtime
from bot.services import escalation
from bot.views.escalation import render_escalate_modal, render_link_modal, render_rationale_modal
from handlers import payload
from handlers.common import Refused, answer_form, perform, run_action, runtime_of, tell
from integrations.jira_client import JiraRejected, JiraUnavailable, parse_key

log = logging.getLogger(__name__)

# A view submission must be answered within 3 s; checking a key in Jira gets this much of it.
JIRA_CHECK_SECONDS = 2.0
NOT_CONFIGURED = "Jira is not set up for this workspace (JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN)."
ESCALATING = ":outbox_tray: Escalating to Jira… the card shows the issue as soon as Jira has it."
PROJECT_KEY_HELP = "A Jira project key is letters and digits, like SUP or WEB2."


def parse_escalate_submission(view: payload.View) -> escalation.EscalationDetails | dict[str, str]:
    project = str(view.input(Block.ESCALATE_PROJECT).answer or "").strip().upper()
    issue_type = " ".join(str(view.input(Block.ESCALATE_TYPE).answer or "").split())
    priority = str(view.input(Block.ESCALATE_PRIORITY).answer or "").strip() or None
    summary = " ".join(str(view.input(Block.ESCALATE_SUMMARY).answer or "").split())
    errors: dict[str, str] = {}
    if not project or not project.replace("_", "").isalnum() or not project[0].isalpha():
        errors[Block.ESCALATE_PROJECT] = PROJECT_KEY_HELP
    if not issue_type:
        errors[Block.ESCALATE_TYPE] = "Name an issue type, like Bug or Task."
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
        await runtime.slack.open_view(clicked.require_trigger(), render_escalate_modal(issue_id, defaults))


async def on_escalate_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    issue_id = view.metadata_int("issue")
    parsed = parse_escalate_submission(view)
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
    await run_action(
        runtime_of(context),
        clicked,
        lambda conn: escalation.mark_notified(conn, problem, customer, user),
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
    app.view(Callback.LINK_JIRA_MODAL)(on_link_submitted)
    app.action(Action.MARK_NOTIFIED)(on_mark)
    app.action(Action.MARK_ALL_NOTIFIED)(on_mark)
    app.action(Action.WRITE_RATIONALE)(on_write_rationale)
    app.view(Callback.RATIONALE_MODAL)(on_rationale_submitted)
