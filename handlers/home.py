"""The App Home: opening the Home tab refreshes it (through the outbox, like every Slack call)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.services.home import refresh_home
from handlers import payload
from handlers.common import perform, runtime_of


async def home_opened(body: dict[str, Any], context: AsyncBoltContext) -> None:
    opened = payload.HomeOpened.from_body(body)
    if opened.tab not in (None, "home"):
        return
    user = opened.user_id
    if not user:
        return
    # In an outage the tab keeps what it showed; `perform` logs it.
    await perform(runtime_of(context), lambda conn: refresh_home(conn, user), what="home_opened")


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(home_opened)
