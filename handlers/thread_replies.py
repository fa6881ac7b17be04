"""A colleague's reply in a card's thread is a first response (`bot.services.first_response`): it stops
the SLA clock and the card says who answered and how soon."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.services.first_response import take_thread_reply
from db.session import DatabaseUnavailable, answer_within
from handlers import payload
from handlers.common import ACK_DEADLINE_SECONDS, runtime_of

log = logging.getLogger(__name__)


async def is_colleagues_thread_reply(body: dict[str, Any], context: AsyncBoltContext) -> bool:
    return payload.ChannelMessage.from_body(body).is_thread_reply_by_a_colleague(context.bot_user_id)


async def durable_reply(
    body: dict[str, Any], next: Callable[[], Awaitable[None]], context: AsyncBoltContext
) -> BoltResponse | None:
    """Record the first response before Slack gets its 200: a database outage answers 503 so Slack
    retries; a retry (or any later reply) finds it recorded and changes nothing."""
    runtime = runtime_of(context)
    message = payload.ChannelMessage.from_body(body)
    assert message.channel_id and message.thread_ts and message.user_id and message.moment  # the matcher
    try:
        issue_id = await answer_within(
            take_thread_reply(
                runtime.database, message.channel_id, message.thread_ts, message.user_id, message.moment
            ),
            ACK_DEADLINE_SECONDS,
        )
    except (DatabaseUnavailable, TimeoutError):
        log.warning("thread reply not recorded: database unavailable; Slack will retry")
        return BoltResponse(status=503, body="")
    if issue_id is None:
        return BoltResponse(status=200, body="")  # not a card's thread, or answered already
    log.info("first response in the card's thread", extra={"issue_id": issue_id})
    await next()
    return None


async def first_response_recorded(context: AsyncBoltContext) -> None:
    runtime_of(context).deliverer.wake()  # the card says who answered


async def other_message() -> None:
    """Every other message in the channels the bot is in (top-level posts, bots, joins, edits): nothing
    to do. Listed so that Bolt does not warn about each as an unhandled request."""


def register(app: AsyncApp) -> None:
    app.event("message", matchers=[is_colleagues_thread_reply], middleware=[durable_reply])(
        first_response_recorded
    )
    app.event("message")(other_message)  # after the one above: Bolt runs the first listener that matches
