"""Triage controls on the card: thin listeners that ack, parse, call the triage service, and leave the
card re-render and the thread note to the outbox."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain.intake import Severity
from bot.domain.numbers import parse_number
from bot.ids import Action
from bot.runtime import Runtime
from bot.services import triage
from bot.services.cards import problem_summaries
from bot.views.blocks import truncate
from db.queries.problems import problem_of_issue, problems_of_issue
from handlers import payload
from handlers.common import run_action, runtime_of

log = logging.getLogger(__name__)

BUTTONS = {
    Action.CLAIM: triage.claim,
    Action.RELEASE: triage.release,
    Action.RESOLVE: triage.resolve,
    Action.REOPEN: triage.reopen,
    Action.UNMERGE: triage.unmerge,
}
OPTIONS_SHOWN = 20
OPTION_TEXT_MAX = 75  # Slack's limit for an option's text


def problem_options(rows: list[Any]) -> list[dict[str, Any]]:
    """Open problems as options of the "Same problem as…" select (plain text: Slack shows it as is)."""
    options = []
    for row in rows:
        customers = f"{row.customers} customer" + ("" if row.customers == 1 else "s")
        label = truncate(f"#{row.primary_issue_id} {row.subject} · {customers}", OPTION_TEXT_MAX)
        options.append({"text": {"type": "plain_text", "text": label}, "value": str(row.id)})
    return options


async def act(runtime: Runtime, clicked: payload.Action, operation: Any, *extra: Any) -> None:
    issue_id = clicked.state_int("issue")
    if issue_id is None:
        log.info("triage click without an issue id", extra={"action_id": clicked.action_id})
        return
    user = clicked.user_id
    await run_action(
        runtime,
        clicked,
        lambda conn: operation(conn, issue_id, user, *extra),
        what=clicked.action_id,
    )


async def on_button(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Buttons whose click is the whole request: claim, release, resolve, reopen, unmerge."""
    await ack()
    clicked = payload.Action.from_body(body)
    await act(runtime_of(context), clicked, BUTTONS[Action(clicked.action_id)])


async def on_severity(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    clicked = payload.Action.from_body(body)
    if clicked.selected in {s.value for s in Severity}:
        runtime = runtime_of(context)
        await act(runtime, clicked, triage.set_severity, clicked.selected, runtime.config)


async def on_tags(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    clicked = payload.Action.from_body(body)
    runtime = runtime_of(context)
    await act(runtime, clicked, triage.set_tags, list(clicked.selected_all), list(runtime.config.tags))


async def on_merge_into(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    clicked = payload.Action.from_body(body)
    target = parse_number(clicked.selected or "")
    if target is not None:
        runtime = runtime_of(context)
        await act(runtime, clicked, triage.merge, target, runtime.config.jira.comment_batch_seconds)


async def on_merge_suggested(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    clicked = payload.Action.from_body(body)
    target = clicked.state_int("problem")
    if target is not None:
        runtime = runtime_of(context)
        await act(runtime, clicked, triage.merge, target, runtime.config.jira.comment_batch_seconds)


async def merge_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Open problems matching what the person types (the last word as a prefix)."""
    runtime = runtime_of(context)
    asked = payload.OptionsRequest.from_body(body)
    query = asked.query
    issue_id = asked.state_int("issue")
    own = None
    if issue_id is not None:
        own = await runtime.database.transaction(lambda conn: problem_of_issue(conn, issue_id))
    wanted = parse_number(query)  # "#42" or "42": that issue's problem ("#²", 20 digits: words)
    if wanted is not None:
        found = await runtime.database.transaction(lambda conn: problems_of_issue(conn, wanted))
    else:
        matches = await runtime.search.search(
            query, limit=OPTIONS_SHOWN, open_only=True, prefix=True, exclude_problem=own
        )
        found = [m.problem_id for m in matches]
    found = [p for p in found if p != own]
    rows = await runtime.database.transaction(lambda conn: problem_summaries(conn, found, open_only=True))
    await ack(options=problem_options(rows))


def register(app: AsyncApp) -> None:
    for action_id in BUTTONS:
        app.action(action_id)(on_button)
    app.action(Action.SET_SEVERITY)(on_severity)
    app.action(Action.SET_TAGS)(on_tags)
    app.action(Action.MERGE_INTO)(on_merge_into)
    app.action(Action.MERGE_SUGGESTED)(on_merge_suggested)
    app.options(Action.MERGE_INTO)(merge_options)
