"""The one rule every delivery applies to Slack's answers (the error types are `integrations.slack`'s):

- not in a public channel: join it once and post again (`post_joining`);
- a message that must appear once is posted with a mark (Slack message metadata) and, when an earlier
  attempt may have posted it already, looked for before it is posted again (`post_once`);
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

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.services.outbox import GiveUp, RetryLater, current_item_id, earlier_attempt_may_have_succeeded
from bot.views.blocks import Blocks
from integrations.slack import (
    MessageMark,
    NotInChannel,
    Paced,
    PostedMessage,
    SlackError,
    SlackGateway,
    SlackTransientError,
)

log = logging.getLogger(__name__)


def outbox_failure(exc: SlackError) -> RetryLater | GiveUp:
    """What the outbox should do after Slack refused or failed a call."""
    reason = f"slack: {getattr(exc, 'code', None) or exc}"
    if not exc.retryable:
        return GiveUp(reason)
    if isinstance(exc, Paced):
        return RetryLater(reason, exc.retry_after, not_yet=True)
    retry_after = exc.retry_after if isinstance(exc, SlackTransientError) else None
    return RetryLater(reason, retry_after, outcome_unknown=exc.outcome_unknown)


@contextmanager
def slack_outcome() -> Iterator[None]:
    """Turn any Slack failure inside the block into the outbox's retry-or-give-up."""
    try:
        yield
    except SlackError as exc:
        raise outbox_failure(exc) from exc


async def post_joining(
    slack: SlackGateway,
    channel: str,
    text: str,
    blocks: Blocks,
    *,
    thread_ts: str | None = None,
    mark: MessageMark | None = None,
) -> PostedMessage:
    """Post, joining a public channel first when the bot is not in it (the `channels:join` scope; a
    private channel needs an invitation, and that failure is retried like any other)."""
    try:
        return await slack.post_message(channel, text, blocks, thread_ts=thread_ts, mark=mark)
    except NotInChannel:
        await slack.join_channel(channel)
        return await slack.post_message(channel, text, blocks, thread_ts=thread_ts, mark=mark)


@dataclass(frozen=True)
class Sent:
    message: PostedMessage
    adopted: bool  # found already in Slack (posted by an attempt whose record was lost), not posted now


async def post_once(
    slack: SlackGateway,
    channel: str,
    text: str,
    blocks: Blocks,
    *,
    mark: MessageMark,
    thread_ts: str | None = None,
) -> Sent:
    """Post a message that must appear once, whatever happened to earlier attempts. It is posted with
    `mark` as its metadata; when an earlier attempt of this outbox item may have posted it (the process
    died before recording it, or Slack's answer was lost), the channel (or thread) is searched for the
    mark first and a message found is adopted instead of posted again."""
    if earlier_attempt_may_have_succeeded():
        try:
            where = await slack.dm_channel(channel) if is_user_id(channel) else channel
            found = await slack.find_marked(where, mark, thread_ts=thread_ts)
        except NotInChannel:
            found = None  # the bot is not in the channel: it cannot have posted there
        if found is not None:
            log.info("message already in Slack; adopting it", extra={"event_type": mark.event_type})
            return Sent(found, adopted=True)
    return Sent(
        await post_joining(slack, channel, text, blocks, thread_ts=thread_ts, mark=mark), adopted=False
    )


async def thread_line(
    slack: SlackGateway,
    text: str,
    blocks: Blocks,
    *,
    mark: MessageMark,
    posted: tuple[str | None, str | None],
    card: tuple[str | None, str | None],
) -> PostedMessage | None:
    """A line kept in a card's thread: edited in place where it already is (`posted`), else posted
    once under `mark` in the card's thread (adopted, and brought up to date, when an earlier attempt
    posted it). Returns the message when it was posted now, for the caller to record."""
    channel, ts = posted
    with slack_outcome():
        if channel and ts:
            await slack.update_message(channel, ts, text, blocks)
            return None
        card_channel, card_ts = card
        if card_channel is None or card_ts is None:
            raise RetryLater("card not posted yet")
        sent = await post_once(slack, card_channel, text, blocks, thread_ts=card_ts, mark=mark)
        if sent.adopted:
            await slack.update_message(sent.message.channel, sent.message.ts, text, blocks)
    return sent.message


def card_mark(issue_id: int) -> MessageMark:
    return MessageMark("supportbridge_card", (("issue_id", issue_id),))


def note_mark(event_id: int) -> MessageMark:
    """A note in a card's thread about one issue event."""
    return MessageMark("supportbridge_note", (("event_id", event_id),))


def customer_list_mark(problem_id: int) -> MessageMark:
    return MessageMark("supportbridge_customer_list", (("problem_id", problem_id),))


def delivery_mark(event_type: str) -> MessageMark:
    """The mark of the message posted by the outbox item being run (each item posts one)."""
    return MessageMark(event_type, (("outbox_id", current_item_id() or 0),))


def is_user_id(channel: str) -> bool:
    """A user id (U…/W…) as the target of a post means a direct message from the app."""
    return channel[:1] in {"U", "W"}
