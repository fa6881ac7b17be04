"""Posts that are not issue cards: announcements, direct messages, thread replies, through the outbox.

A post may carry a `key` naming what it is ("shadow-week:l1:2026-11-23"): it is then posted once, its
(channel, ts) is remembered in `posted_messages`, later requests with `edit=True` re-render it in
place, and other posts can reply in its thread (`thread=<key>`). Content is either given when the post
is enqueued (`text`/`blocks`) or rendered when it is sent by a named renderer that reads current state
(`render=<name>`, `args={...}`), so a post that waited in the outbox never shows stale seats or counts.
A renderer returning None means "nothing to post any more" (the session was cancelled meanwhile).

Posting to a user id (U…) sends a direct message from the app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from bot.services import outbox
from bot.views.blocks import Blocks
from db.models import posted_messages, utcnow
from db.session import Database
from integrations.slack import SlackCallError, SlackGateway, SlackTransientError

log = logging.getLogger(__name__)

POST = "post"

# Slack codes after which retrying the same post cannot succeed.
PERMANENT = {
    "channel_not_found",
    "is_archived",
    "message_not_found",
    "user_not_found",
    "user_disabled",
    "cannot_dm_bot",
    "messages_tab_disabled",
}

Rendered = tuple[Blocks, str]
Renderer = Callable[[dict[str, Any]], Awaitable[Rendered | None]]


def enqueue_post(
    conn: Connection,
    *,
    channel: str,
    key: str | None = None,
    text: str | None = None,
    blocks: Blocks | None = None,
    render: str | None = None,
    args: dict[str, Any] | None = None,
    thread: str | None = None,
    edit: bool = False,
    delay: float = 0,
) -> None:
    """Ask for a post in the caller's transaction (see the module docstring)."""
    if render is None and text is None:
        raise ValueError("a post needs text (and blocks) or a renderer")
    payload: dict[str, Any] = {"channel": channel}
    for name, value in (
        ("key", key),
        ("text", text),
        ("blocks", blocks),
        ("render", render),
        ("args", args),
        ("thread", thread),
    ):
        if value is not None:
            payload[name] = value
    if edit:
        payload["edit"] = True
    # One pending request per keyed post: asking again while one waits re-renders once.
    dedupe = f"post:{key}:{'edit' if edit else 'new'}" if key and render else None
    outbox.enqueue_in(conn, POST, payload, dedupe_key=dedupe, delay=delay)


def posted(conn: Connection, key: str) -> Any:
    """The (channel, ts) of a keyed post, or None when it has not been posted."""
    return conn.execute(
        select(posted_messages.c.channel, posted_messages.c.ts).where(posted_messages.c.key == key)
    ).first()


class PostDeliveries:
    def __init__(self, database: Database, slack: SlackGateway) -> None:
        self.database = database
        self.slack = slack
        self.renderers: dict[str, Renderer] = {}

    def add_renderer(self, name: str, renderer: Renderer) -> None:
        self.renderers[name] = renderer

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(POST, self.post)

    async def post(self, payload: dict[str, Any]) -> outbox.Effects | None:
        key = payload.get("key")
        channel = str(payload["channel"])
        thread_key = payload.get("thread")

        def load(conn: Connection) -> tuple[Any, Any]:
            return (
                posted(conn, key) if key else None,
                posted(conn, thread_key) if thread_key else None,
            )

        existing, parent = await self.database.transaction(load)
        if existing is not None and not payload.get("edit"):
            return None  # posted already (a retry after the post went out)
        if existing is None and payload.get("edit"):
            return None  # nothing to edit: never posted
        if thread_key and parent is None:
            raise outbox.RetryLater(f"thread {thread_key} not posted yet")

        render = payload.get("render")
        if render:
            renderer = self.renderers.get(str(render))
            if renderer is None:
                raise outbox.RetryLater(f"no renderer {render!r} in this process")
            rendered = await renderer(dict(payload.get("args") or {}))
            if rendered is None:
                return None
            blocks, text = rendered
        else:
            blocks, text = list(payload.get("blocks") or []), str(payload.get("text") or "")

        try:
            if existing is not None:
                await self.slack.update_message(existing.channel, existing.ts, text, blocks)
                return None
            try:
                message = await self.slack.post_message(
                    channel, text, blocks, thread_ts=parent.ts if parent is not None else None
                )
            except SlackCallError as exc:
                if exc.code != "not_in_channel":
                    raise
                await self.slack.join_channel(channel)
                message = await self.slack.post_message(
                    channel, text, blocks, thread_ts=parent.ts if parent is not None else None
                )
        except SlackTransientError as exc:
            raise outbox.RetryLater(f"slack: {exc}", exc.retry_after) from exc
        except SlackCallError as exc:
            if exc.code in PERMANENT:
                log.warning("post dropped: Slack refused it for good", extra={"key": key, "error": exc.code})
                return None
            raise outbox.RetryLater(f"slack: {exc.code}") from exc
        if not key:
            return None

        def record(conn: Connection) -> None:
            conn.execute(
                insert(posted_messages).values(
                    key=key, channel=message.channel, ts=message.ts, created_at=utcnow()
                )
            )

        return record
