"""Sending posts that are not issue cards (`Post` items, asked for with `bot.services.posts.enqueue_post`).

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

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from bot.deliveries.policy import delivery_mark, post_once, slack_outcome
from bot.domain.outbox import Post, PostRenderer
from bot.services import outbox
from bot.services.posts import posted
from bot.views.blocks import Blocks
from db.models import posted_messages, utcnow
from db.session import Database
from integrations.slack import SlackGateway

log = logging.getLogger(__name__)

Rendered = tuple[Blocks, str]
Renderer = Callable[[dict[str, Any]], Awaitable[Rendered | None]]


class PostDeliveries:
    def __init__(self, database: Database, slack: SlackGateway) -> None:
        self.database = database
        self.slack = slack
        self.renderers: dict[str, Renderer] = {}

    def add_renderer(self, name: PostRenderer, renderer: Renderer) -> None:
        self.renderers[name.value] = renderer

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(Post, self.post)

    async def post(self, payload: Post) -> outbox.Effects | None:
        key, channel, thread_key = payload.key, payload.channel, payload.thread

        def load(conn: Connection) -> tuple[Any, Any]:
            return (
                posted(conn, key) if key else None,
                posted(conn, thread_key) if thread_key else None,
            )

        existing, parent = await self.database.transaction(load)
        if existing is not None and not payload.edit:
            return None  # posted already (a retry after the post went out)
        if existing is None and payload.edit:
            return None  # nothing to edit: never posted
        if thread_key and parent is None:
            raise outbox.RetryLater(f"thread {thread_key} not posted yet")

        render = payload.render
        if render:
            renderer = self.renderers.get(render)
            if renderer is None:
                raise outbox.RetryLater(f"no renderer {render!r} in this process")
            rendered = await renderer(dict(payload.args or {}))
            if rendered is None:
                return None
            blocks, text = rendered
        else:
            blocks, text = list(payload.blocks or []), payload.text or ""

        with slack_outcome():
            if existing is not None:
                await self.slack.update_message(existing.channel, existing.ts, text, blocks)
                return None
            mark = delivery_mark("supportbridge_post")
            thread_ts = parent.ts if parent is not None else None
            message = (
                await post_once(self.slack, channel, text, blocks, thread_ts=thread_ts, mark=mark)
            ).message
        if not key:
            return None

        def record(conn: Connection) -> None:
            conn.execute(
                insert(posted_messages).values(
                    key=key, channel=message.channel, ts=message.ts, created_at=utcnow()
                )
            )

        return record
