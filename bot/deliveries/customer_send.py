"""The one rule every send through a customer's own channel applies (`integrations.replies`' errors),
as `policy` is for Slack's:

- refused for good (a bad address, a closed conversation): not sent, with the channel's reason;
- an outcome unknown (a timeout after the request went out): retried, and the retry first looks for
  the earlier send where the channel can (`ReplyChannel.find_sent`), so the customer gets it once;
- the channel down or failing: retried with the outbox's backoff, after its Retry-After when it gave
  one, and given up as not sent after `GIVE_UP_AFTER` attempts (about two minutes).

A reply and a satisfaction survey differ only in what they record: `NotSent` carries the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.services import outbox
from integrations.replies import (
    Delivered,
    ReplyChannel,
    ReplyError,
    ReplyOutcomeUnknown,
    ReplyRejected,
    ReplyUnavailable,
)

log = logging.getLogger(__name__)

GIVE_UP_AFTER = 6  # attempts (about two minutes of backoff) before a send is recorded as not sent


class NotSent(Exception):
    """The send will not happen: refused, or the channel still failing after `GIVE_UP_AFTER` tries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def send_through(
    channel: ReplyChannel, send: Callable[[], Awaitable[Delivered]], what: str, **fields: Any
) -> Delivered:
    """Run `send` (the channel call); raise `NotSent`, or `outbox.RetryLater` for the outbox to retry."""
    try:
        return await send()
    except ReplyRejected as exc:
        log.info(f"{what} refused", extra={**fields, "channel": channel.name, "reason": exc.reason})
        raise NotSent(exc.reason) from exc
    except ReplyOutcomeUnknown as exc:
        raise outbox.RetryLater(f"{channel.name}: {exc.reason}", outcome_unknown=True) from exc
    except (ReplyUnavailable, ReplyError) as exc:
        attempts = outbox.attempts_before() + 1
        if attempts >= GIVE_UP_AFTER:
            raise NotSent(f"{exc.reason} (tried {attempts} times)") from exc
        retry_after = exc.retry_after if isinstance(exc, ReplyUnavailable) else None
        raise outbox.RetryLater(f"{channel.name}: {exc.reason}", retry_after) from exc
