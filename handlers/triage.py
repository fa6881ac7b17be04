"""Triage controls on the card: thin listeners that ack, parse, call the triage service, and leave the
card re-render and the thread note to the outbox."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from sqlalchemy import select

from bot.domain.intake import Severity
from bot.ids import Action
from bot.runtime import Runtime
from bot.services import triage
from bot.services.cards import problem_summaries
from bot.views.blocks import truncate
from db.models import issues
from handlers.common import issue_of, run_action, state_of

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


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def act(body: dict[str, Any], action: dict[str, Any], operation: Any, *extra: Any) -> None:
        issue_id = issue_of(action)
        if issue_id is None:
            log.info("triage click without an issue id", extra={"action_id": action.get("action_id")})
            return
        user = body["user"]["id"]
        await run_action(
            runtime,
            body,
            lambda conn: operation(conn, issue_id, user, *extra),
            what=str(action.get("action_id")),
        )

    def button_listener(operation: Any) -> Any:
        async def on_click(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            await act(body, action, operation)

        return on_click

    # Buttons whose click is the whole request: one listener each, the same shape.
    for action_id, operation in BUTTONS.items():
        app.action(action_id)(button_listener(operation))

    @app.action(Action.SET_SEVERITY)
    async def on_severity(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        selected = (action.get("selected_option") or {}).get("value")
        if selected in {s.value for s in Severity}:
            await act(body, action, triage.set_severity, selected)

    @app.action(Action.SET_TAGS)
    async def on_tags(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        tags = [option["value"] for option in action.get("selected_options") or []]
        await act(body, action, triage.set_tags, tags, list(runtime.config.tags))

    batch = runtime.config.jira.comment_batch_seconds

    @app.action(Action.MERGE_INTO)
    async def on_merge_into(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        selected = (action.get("selected_option") or {}).get("value") or ""
        if selected.isdigit():
            await act(body, action, triage.merge, int(selected), batch)

    @app.action(Action.MERGE_SUGGESTED)
    async def on_merge_suggested(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        target = state_of(action).get("problem")
        if isinstance(target, int):
            await act(body, action, triage.merge, target, batch)

    @app.options(Action.MERGE_INTO)
    async def merge_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Open problems matching what the person types (the last word as a prefix)."""
        query = str(body.get("value") or "").strip()
        issue_id = state_of({"block_id": body.get("block_id")}).get("issue")
        own = None
        if isinstance(issue_id, int):
            own = await runtime.database.transaction(
                lambda conn: conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalar()
            )
        if query.lstrip("#").isdigit():
            wanted = int(query.lstrip("#"))
            found = await runtime.database.transaction(
                lambda conn: list(
                    conn.execute(select(issues.c.problem_id).where(issues.c.id == wanted)).scalars()
                )
            )
        else:
            matches = await runtime.search.search(
                query, limit=OPTIONS_SHOWN, open_only=True, prefix=True, exclude_problem=own
            )
            found = [m.problem_id for m in matches]
        found = [p for p in found if p != own]
        rows = await runtime.database.transaction(lambda conn: problem_summaries(conn, found, open_only=True))
        await ack(options=problem_options(rows))
