"""Triage controls on the card: thin listeners that ack, parse, call the triage service, and leave the
card re-render and the thread note to the outbox."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain import Severity
from bot.ids import Action
from bot.runtime import Runtime
from bot.services import outbox, triage
from bot.views.blocks import decode_state
from db.session import DatabaseUnavailable

log = logging.getLogger(__name__)


def _issue_id(action: dict[str, Any]) -> int | None:
    """Buttons carry the issue in their value; selects in their block id (they have no value)."""
    for raw in (action.get("value"), action.get("block_id")):
        issue = decode_state(raw).get("issue")
        if isinstance(issue, int):
            return issue
    return None


BUTTONS = {
    Action.CLAIM: triage.claim,
    Action.RELEASE: triage.release,
    Action.RESOLVE: triage.resolve,
    Action.REOPEN: triage.reopen,
}


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def tell(body: dict[str, Any], text: str) -> None:
        """A private note to the person who clicked, through the outbox like every Slack post."""
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id")
        if not (channel and user):
            return
        await runtime.database.transaction(
            lambda conn: outbox.enqueue_in(
                conn, outbox.EPHEMERAL, {"channel": channel, "user": user, "text": text}
            )
        )
        runtime.deliverer.wake()

    async def act(body: dict[str, Any], action: dict[str, Any], operation: Any, *extra: Any) -> None:
        issue_id = _issue_id(action)
        user = body["user"]["id"]
        if issue_id is None:
            log.info("triage click without an issue id", extra={"action_id": action.get("action_id")})
            return
        try:
            result = await triage.run(runtime.database, operation, issue_id, user, *extra)
        except triage.TriageError as exc:
            await tell(body, str(exc))
            return
        except DatabaseUnavailable:
            # Nothing was stored, and the outbox is in the same database: the card simply stays as it
            # was, which shows the click did not take. Logged for whoever watches the service.
            log.warning("triage click not stored: database unavailable", extra={"issue_id": issue_id})
            return
        if result.changed:
            runtime.deliverer.wake()

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
