"""The one rule every delivery applies to Slack's answers (the error types are `integrations.slack`'s):

- not in a public channel: join it once and post again (`post_joining`);
- a failure that can pass (rate limit, server error, network, an unknown refusal, a bad token): retry
  later, after Slack's Retry-After when it gave one;
- a failure that never will (channel gone or archived, person unreachable, message gone, a scope the
  app lacks, a request Slack calls malformed): stop retrying; the item is kept as dead with the reason
  and logged at WARNING. Nothing is dropped silently.

A delivery that has a better answer for a particular error (the digest chart explaining a missing
scope, a DM whose thread copy already went out) catches that error first, says so in the log, and
lets the rest reach `outbox_failure`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bot.services.outbox import GiveUp, RetryLater
from bot.views.blocks import Blocks
from integrations.slack import NotInChannel, PostedMessage, SlackError, SlackGateway, SlackTransientError


def outbox_failure(exc: SlackError) -> RetryLater | GiveUp:
    """What the outbox should do after Slack refused or failed a call."""
    reason = f"slack: {getattr(exc, 'code', None) or exc}"
    if not exc.retryable:
        return GiveUp(reason)
    retry_after = exc.retry_after if isinstance(exc, SlackTransientError) else None
    return RetryLater(reason, retry_after)


@contextmanager
def slack_outcome() -> Iterator[None]:
    """Turn any Slack failure inside the block into the outbox's retry-or-give-up."""
    try:
        yield
    except SlackError as exc:
        raise outbox_failure(exc) from exc


async def post_joining(
    slack: SlackGateway, channel: str, text: str, blocks: Blocks, *, thread_ts: str | None = None
) -> PostedMessage:
    """Post, joining a public channel first when the bot is not in it (the `channels:join` scope; a
    private channel needs an invitation, and that failure is retried like any other)."""
    try:
        return await slack.post_message(channel, text, blocks, thread_ts=thread_ts)
    except NotInChannel:
        await slack.join_channel(channel)
        return await slack.post_message(channel, text, blocks, thread_ts=thread_ts)
