"""Escalation and closing the loop, on the card: escalate (at once, with details, or by linking an
existing Jira issue), retry, mark customers notified, write a won't-do rationale. Thin: ack, parse,
call the escalation service; Jira and Slack calls go through the outbox."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.ids import ESCALATE_WITH_DETAILS, INPUT, LINK_EXISTING, Action, Block, Callback
from bot.runtime import Runtime
from bot.services import escalation
from bot.services.triage import TriageError
from bot.views.blocks import decode_state
from bot.views.escalation import render_escalate_modal, render_link_modal, render_rationale_modal
from db.session import DatabaseUnavailable
from handlers.common import issue_of, run_action, state_of, tell
from integrations.jira_client import JiraRejected, JiraUnavailable, parse_key

log = logging.getLogger(__name__)

# A view submission must be answered within 3 s; checking a key in Jira gets this much of it.
JIRA_CHECK_SECONDS = 2.0
NOT_CONFIGURED = "Jira is not set up for this workspace (JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN)."
ESCALATING = ":outbox_tray: Escalating to Jira… the card shows the issue as soon as Jira has it."
PROJECT_KEY_HELP = "A Jira project key is letters and digits, like SUP or WEB2."


def _input(view: dict[str, Any], block: str) -> Any:
    value = view.get("state", {}).get("values", {}).get(block, {}).get(INPUT, {})
    if "selected_option" in value:
        return (value.get("selected_option") or {}).get("value")
    return value.get("value")


def parse_escalate_submission(view: dict[str, Any]) -> escalation.EscalationDetails | dict[str, str]:
    project = str(_input(view, Block.ESCALATE_PROJECT) or "").strip().upper()
    issue_type = " ".join(str(_input(view, Block.ESCALATE_TYPE) or "").split())
    priority = str(_input(view, Block.ESCALATE_PRIORITY) or "").strip() or None
    summary = " ".join(str(_input(view, Block.ESCALATE_SUMMARY) or "").split())
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


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def escalate(
        body: dict[str, Any], issue_id: int, details: escalation.EscalationDetails | None
    ) -> None:
        user = body["user"]["id"]
        result = await run_action(
            runtime, body, lambda conn: escalation.escalate(conn, issue_id, user, details), what="escalate"
        )
        if result is not None:
            await tell(runtime, body, ESCALATING)

    async def on_escalate(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        issue_id = issue_of(action)
        if issue_id is None:
            return
        if runtime.jira is None:
            await tell(runtime, body, NOT_CONFIGURED)
            return
        await escalate(body, issue_id, None)

    # "Escalate to Jira" and "Retry escalation": the same request (a failed escalation is retried).
    app.action(Action.ESCALATE)(on_escalate)
    app.action(Action.ESCALATE_RETRY)(on_escalate)

    @app.action(Action.ESCALATE_MORE)
    async def on_more(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        issue_id = issue_of(action)
        choice = (action.get("selected_option") or {}).get("value")
        if issue_id is None or runtime.slack is None:
            return
        if runtime.jira is None:
            await tell(runtime, body, NOT_CONFIGURED)
            return
        if choice == LINK_EXISTING:
            await runtime.slack.open_view(body["trigger_id"], render_link_modal(issue_id))
        elif choice == ESCALATE_WITH_DETAILS:
            try:
                defaults = await runtime.database.transaction(
                    lambda conn: escalation.escalation_prefill(conn, runtime.config, issue_id)
                )
            except TriageError as exc:
                await tell(runtime, body, str(exc))
                return
            await runtime.slack.open_view(body["trigger_id"], render_escalate_modal(issue_id, defaults))

    @app.view(Callback.ESCALATE_MODAL)
    async def on_escalate_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        issue_id = decode_state(view.get("private_metadata")).get("issue")
        parsed = parse_escalate_submission(view)
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        if not isinstance(issue_id, int):
            await ack()
            return
        user = body["user"]["id"]
        try:
            await runtime.database.transaction(lambda conn: escalation.escalate(conn, issue_id, user, parsed))
        except TriageError as exc:
            await ack(response_action="errors", errors={Block.ESCALATE_SUMMARY: str(exc)})
            return
        except DatabaseUnavailable:
            await ack(
                response_action="errors",
                errors={Block.ESCALATE_SUMMARY: "Couldn't save right now (database unavailable). Try again."},
            )
            return
        await ack()
        runtime.deliverer.wake()

    @app.view(Callback.LINK_JIRA_MODAL)
    async def on_link_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        issue_id = decode_state(view.get("private_metadata")).get("issue")
        text = str(_input(view, Block.LINK_JIRA_KEY) or "")
        key = parse_key(text)
        if key is None:
            await ack(
                response_action="errors",
                errors={Block.LINK_JIRA_KEY: "That is not a Jira issue key or link (like PROJ-123)."},
            )
            return
        if not isinstance(issue_id, int) or runtime.jira is None:
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
        user = body["user"]["id"]
        try:
            await runtime.database.transaction(
                lambda conn: escalation.link_existing(
                    conn, issue_id, user, found.key, found.url, found.snapshot
                )
            )
        except TriageError as exc:
            await fail(str(exc))
            return
        except DatabaseUnavailable:
            await fail("Couldn't save right now (database unavailable). Try again.")
            return
        await ack()
        runtime.deliverer.wake()

    async def on_mark(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """ "Mark notified" for one customer (the button names it) or, without one, for all."""
        await ack()
        state = state_of(action)
        problem, customer = state.get("problem"), state.get("customer")
        if not isinstance(problem, int) or not isinstance(customer, int | None):
            return
        user = body["user"]["id"]
        await run_action(
            runtime,
            body,
            lambda conn: escalation.mark_notified(conn, problem, customer, user),
            what="mark_notified",
        )

    app.action(Action.MARK_NOTIFIED)(on_mark)
    app.action(Action.MARK_ALL_NOTIFIED)(on_mark)

    @app.action(Action.WRITE_RATIONALE)
    async def on_write_rationale(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        problem = state_of(action).get("problem")
        if not isinstance(problem, int) or runtime.slack is None:
            return
        found = await runtime.database.transaction(
            lambda conn: escalation.problem_for_rationale(conn, problem)
        )
        if found is None:
            await tell(runtime, body, "That problem no longer exists.")
            return
        subject, current = found
        await runtime.slack.open_view(body["trigger_id"], render_rationale_modal(problem, subject, current))

    @app.view(Callback.RATIONALE_MODAL)
    async def on_rationale_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        problem = decode_state(view.get("private_metadata")).get("problem")
        text = str(_input(view, Block.RATIONALE_TEXT) or "")
        if not isinstance(problem, int):
            await ack()
            return
        user = body["user"]["id"]
        try:
            await runtime.database.transaction(
                lambda conn: escalation.store_rationale(conn, problem, user, text)
            )
        except TriageError as exc:
            await ack(response_action="errors", errors={Block.RATIONALE_TEXT: str(exc)})
            return
        except DatabaseUnavailable:
            await ack(
                response_action="errors",
                errors={Block.RATIONALE_TEXT: "Couldn't save right now (database unavailable). Try again."},
            )
            return
        await ack()
        runtime.deliverer.wake()
