"""What every reply channel takes, returns and raises (see ``integrations.replies``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MAX_REASON = 200


def bounded(reason: str, limit: int = MAX_REASON) -> str:
    """One line, at most ``limit`` characters: a reason is shown in Slack and written to the log."""
    line = " ".join(reason.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class OutboundReply:
    key: str  # idempotency key, unique per send, the same on every retry (e.g. "reply:42")
    text: str  # plain text, already cleaned and bounded by the caller
    subject: str  # e-mail subject, e.g. "Re: Invoice export times out"
    conversation_id: str | None = None  # Intercom conversation, Zendesk ticket, or a webhook source's id
    to_email: str | None = None
    to_name: str | None = None
    in_reply_to: str | None = None  # the customer's Message-ID (without <>), for e-mail threading
    references: tuple[str, ...] = ()  # earlier Message-IDs of the conversation (without <>)
    sender_name: str | None = None  # the Slack person's display name (signature / webhook field)
    source: str | None = None  # the source name (for the webhook channel's notify_url)


@dataclass(frozen=True)
class Delivered:
    # What identifies the sent reply there: the e-mail's Message-ID (without <>), the Intercom part id,
    # the Zendesk comment id, the webhook-id.
    external_id: str


class ReplyError(Exception):
    """A reply was not (known to be) delivered. ``reason`` is short and safe to show in Slack and to log:
    it never holds a token or customer text."""

    def __init__(self, reason: str) -> None:
        self.reason = bounded(reason)
        super().__init__(self.reason)


class ReplyRejected(ReplyError):
    """Permanent: a bad address, an unknown conversation or ticket, 401/403/404/422. Retrying cannot help."""


class ReplyUnavailable(ReplyError):
    """Transient: connection refused, 5xx, 429. ``retry_after`` is the wait the service asked for."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class ReplyOutcomeUnknown(ReplyError):
    """The call may have succeeded (a timeout after sending, a connection dropped mid-answer): ask
    ``find_sent`` before sending again."""


class ReplyChannel(Protocol):
    name: str  # "email" | "intercom" | "zendesk" | "webhook"

    async def send(self, reply: OutboundReply) -> Delivered: ...

    async def find_sent(self, reply: OutboundReply) -> Delivered | None:
        """After ReplyOutcomeUnknown: did it arrive? None = not found (the caller then sends again)."""
        ...

    async def close(self) -> None: ...
