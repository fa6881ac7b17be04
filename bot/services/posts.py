"""Asking for a post that is not an issue card (an announcement, a direct message, a thread reply), in
the caller's transaction; `bot.deliveries.posts` sends it.

A post may carry a `key` naming what it is ("shadow-week:l1:2026-11-23"): it is then posted once, its
(channel, ts) is remembered in `posted_messages`, later requests with `edit=True` re-render it in
place, and other posts can reply in its thread (`thread=<key>`). Content is either given when the post
is enqueued (`text`/`blocks`) or rendered when it is sent by a named renderer that reads current state
(`render=PostRenderer.…`, `args={...}`), so a post that waited in the outbox never shows stale seats or
counts. Posting to a user id (U…) sends a direct message from the app.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.domain.outbox import Post, PostRenderer
from bot.services import outbox
from db.models import posted_messages


def enqueue_post(
    conn: Connection,
    *,
    channel: str,
    key: str | None = None,
    text: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    render: PostRenderer | None = None,
    args: dict[str, Any] | None = None,
    thread: str | None = None,
    edit: bool = False,
    delay: float = 0,
) -> None:
    """Ask for a post (see the module docstring)."""
    if render is None and text is None:
        raise ValueError("a post needs text (and blocks) or a renderer")
    payload = Post(
        channel=channel,
        key=key,
        text=text,
        blocks=blocks,
        render=render.value if render is not None else None,
        args=args,
        thread=thread,
        edit=edit,
    )
    # One pending request per keyed post: asking again while one waits re-renders once.
    dedupe = f"post:{key}:{'edit' if edit else 'new'}" if key and render else None
    outbox.enqueue_in(conn, payload, dedupe_key=dedupe, delay=delay)


def posted(conn: Connection, key: str) -> Any:
    """The (channel, ts) of a keyed post, or None when it has not been posted."""
    return conn.execute(
        select(posted_messages.c.channel, posted_messages.c.ts).where(posted_messages.c.key == key)
    ).first()
