"""`/support digest [7d|30d]`: the digest for the last 7 (or 30) days, for the person asking only, with a
button that posts that same window to `channels.digest`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.ids import Action
from bot.runtime import Runtime
from bot.services.digest import compute_digest, enqueue_digest
from bot.views.blocks import Blocks, actions, button, decode_state, encode_state, section
from bot.views.digest import render_preview
from db.models import utcnow
from db.session import DatabaseUnavailable
from handlers import payload
from handlers.common import Refused, perform, runtime_of, tell

log = logging.getLogger(__name__)

# Slack wants the command answered within 3 s: the preview is computed within this budget.
PREVIEW_BUDGET_SECONDS = 2.3
WINDOWS = {"7d": 7, "30d": 30}
USAGE = "Which period? `/support digest` (the last 7 days), `/support digest 7d` or `/support digest 30d`."


def parse_window(words: list[str]) -> int | None:
    if not words:
        return 7
    return WINDOWS.get(words[0].lower()) if len(words) == 1 else None


async def preview(runtime: Runtime, days: int, now: datetime | None = None) -> tuple[Blocks, str]:
    """The preview's blocks and text, or a plain answer when it could not be computed in time."""
    # Whole seconds (the button carries them), rounded up so that what just arrived is in.
    end = ((now or utcnow()) + timedelta(seconds=1)).replace(microsecond=0)
    start = end - timedelta(days=days)
    value = encode_state(start=int(start.timestamp()), end=int(end.timestamp()))
    channel = runtime.config.channels.digest
    try:
        async with asyncio.timeout(PREVIEW_BUDGET_SECONDS):
            digest = await runtime.database.transaction(
                lambda conn: compute_digest(conn, runtime.config, start, end)
            )
    except (DatabaseUnavailable, TimeoutError) as exc:
        reason = "the database is unavailable" if isinstance(exc, DatabaseUnavailable) else "it took too long"
        text = f"Couldn't prepare the preview ({reason})."
        blocks = [section(text)]
        if channel:
            blocks.append(actions([button("Post it to the digest channel", Action.DIGEST_POST, value)]))
        return blocks, text
    return render_preview(digest, runtime.config.zone, channel=channel, value=value)


async def post_digest(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    state = decode_state(clicked.value)
    channel = runtime.config.channels.digest
    if not channel or not isinstance(state.get("start"), int) or not isinstance(state.get("end"), int):
        await tell(runtime, clicked, "This digest can't be posted: no digest channel is configured.")
        return
    start = datetime.fromtimestamp(state["start"], UTC)
    end = datetime.fromtimestamp(state["end"], UTC)
    key = f"digest:manual:{state['start']}:{state['end']}"
    posted = await perform(
        runtime,
        lambda conn: enqueue_digest(conn, channel=channel, start=start, end=end, key=key),
        what="digest_post",
        unavailable="Couldn't post the digest right now (database unavailable). Try again.",
    )
    if isinstance(posted, Refused):
        await tell(runtime, clicked, posted.text)
        return
    log.info("digest post asked for", extra={"days": round((end - start) / timedelta(days=1))})
    await tell(runtime, clicked, f"Posting the digest to <#{channel}>.")


def register(app: AsyncApp) -> None:
    app.action(Action.DIGEST_POST)(post_digest)


async def answer_command(runtime: Runtime, ack: AsyncAck, words: list[str]) -> None:
    days = parse_window(words)
    if days is None:
        await ack(text=USAGE)
        return
    blocks, text = await preview(runtime, days)
    await ack(text=text, blocks=blocks)
