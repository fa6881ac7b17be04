"""Pacing Slack calls the way Slack limits them, so one rate limit delays only what it concerns.

Slack limits `chat.postMessage` per channel (about one message a second, short bursts allowed) and
every other method per workspace by its tier
(https://docs.slack.dev/apis/web-api/rate-limits). So:

- posts to a channel draw from that channel's token bucket (a burst of `burst`, then `rate` a
  second); a call whose turn is further away than `max_wait` is not held: it is refused at once as
  rate limited, with the time to wait, and the outbox retries it then;
- a 429 blocks only its scope — the channel for a post, the method otherwise — for its Retry-After;
  calls in a blocked scope are refused without asking Slack, calls elsewhere go on.

A hand-written bucket rather than a library: the limiters on PyPI (aiolimiter, limits) pace a key but
do not take a server's Retry-After as a block of that key, which is the half that matters here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import metrics

PER_CHANNEL_METHODS = frozenset({"chat.postMessage"})
Scope = tuple[str, str | None]


@dataclass
class _Bucket:
    tokens: float
    updated: float
    blocked_until: float = 0.0


class Throttled(Exception):
    """The call was not made: its scope is rate limited for `retry_after` more seconds."""

    def __init__(self, scope: Scope, retry_after: float) -> None:
        super().__init__(f"{scope[0]} rate limited{' in ' + scope[1] if scope[1] else ''}")
        self.scope = scope
        self.retry_after = retry_after


class SlackPacer:
    def __init__(
        self,
        *,
        rate: float = 1.0,
        burst: float = 4.0,
        max_wait: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_wait = max_wait
        self.clock = clock
        self._buckets: dict[Scope, _Bucket] = {}

    @staticmethod
    def scope(method: str, channel: str | None) -> Scope:
        return (method, channel) if method in PER_CHANNEL_METHODS and channel else (method, None)

    def _bucket(self, scope: Scope, now: float) -> _Bucket:
        bucket = self._buckets.get(scope)
        if bucket is None:
            bucket = self._buckets[scope] = _Bucket(tokens=self.burst, updated=now)
        return bucket

    async def acquire(self, method: str, channel: str | None) -> None:
        """Wait for this call's turn, or raise `Throttled` when it is blocked or too far away."""
        scope = self.scope(method, channel)
        now = self.clock()
        bucket = self._bucket(scope, now)
        if bucket.blocked_until > now:
            raise Throttled(scope, bucket.blocked_until - now)
        if scope[1] is None:
            return  # tiered methods: only a 429 paces them
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        bucket.tokens -= 1.0  # taken now; a negative balance is the queue in front of this call
        if bucket.tokens >= 0:
            return
        wait = -bucket.tokens / self.rate
        if wait > self.max_wait:
            bucket.tokens += 1.0  # not taken after all
            raise Throttled(scope, wait)
        started = time.perf_counter()
        await asyncio.sleep(wait)
        metrics.observe_stage("pacing", time.perf_counter() - started)

    def rate_limited(self, method: str, channel: str | None, retry_after: float | None) -> None:
        """Slack answered 429: block the call's scope for Retry-After (1 s when it gave none)."""
        scope = self.scope(method, channel)
        now = self.clock()
        bucket = self._bucket(scope, now)
        bucket.blocked_until = max(bucket.blocked_until, now + (retry_after if retry_after else 1.0))
        bucket.tokens = min(bucket.tokens, 0.0)
