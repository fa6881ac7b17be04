"""Link buttons on cards. Slack opens the URL itself but still sends us a block_actions payload;
unanswered, the person sees a warning triangle next to the button, so we acknowledge it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.ids import Action


async def link_opened(ack: AsyncAck) -> None:
    await ack()


def register(app: AsyncApp) -> None:
    for action_id in (
        Action.OPEN_LINK,
        Action.OPEN_SLACK_MESSAGE,
        Action.OPEN_JIRA,
        Action.OPEN_PROBLEM,
        Action.OPEN_RELEASE_LINK,
    ):
        app.action(action_id)(link_opened)
