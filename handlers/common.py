"""What every card-control listener does after its ack: run a service in a transaction, tell the person
who clicked when it could not be done, and wake the outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from bot.domain.outbox import Ephemeral
from bot.runtime import Runtime
from bot.services import outbox
from bot.services.triage import TriageError
from bot.views.blocks import decode_state
from db.session import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


def state_of(action: dict[str, Any]) -> dict[str, Any]:
    """Buttons carry ids in their value; selects and overflows in their block id (they have no value)."""
    for raw in (action.get("value"), action.get("block_id")):
        state = decode_state(raw)
        if state:
            return state
    return {}


def issue_of(action: dict[str, Any]) -> int | None:
    issue = state_of(action).get("issue")
    return issue if isinstance(issue, int) else None


def where_clicked(body: dict[str, Any]) -> tuple[str | None, str | None]:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    user = (body.get("user") or {}).get("id")
    return channel, user


async def tell(runtime: Runtime, body: dict[str, Any], text: str) -> None:
    """A private note to the person who clicked, through the outbox like every Slack post."""
    channel, user = where_clicked(body)
    if not (channel and user):
        return
    await runtime.database.transaction(
        lambda conn: outbox.enqueue_in(conn, Ephemeral(channel=channel, user=user, text=text))
    )
    runtime.deliverer.wake()


async def run_action(
    runtime: Runtime, body: dict[str, Any], work: Callable[[Connection], T], *, what: str
) -> T | None:
    """Run `work` in one transaction. A domain refusal is told to the person; a database outage keeps
    the card as it was (which shows the click did not take) and is logged."""
    try:
        result = await runtime.database.transaction(work)
    except TriageError as exc:
        await tell(runtime, body, str(exc))
        return None
    except DatabaseUnavailable:
        log.warning("card action not stored: database unavailable", extra={"action": what})
        return None
    runtime.deliverer.wake()
    return result
