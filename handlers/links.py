"""Link buttons on cards. Slack opens the URL itself but still sends us a block_actions payload;
unanswered, the person sees a warning triangle next to the button, so we acknowledge it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.ids import Action
from bot.runtime import Runtime


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(Action.OPEN_LINK)
    @app.action(Action.OPEN_SLACK_MESSAGE)
    async def link_opened(ack: AsyncAck) -> None:
        await ack()
