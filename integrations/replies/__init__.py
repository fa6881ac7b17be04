"""Channels that deliver a reply to a customer (e-mail, Intercom, Zendesk, a signed webhook), each
behind one interface. (Interface only here; the channels land with their fakes.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboundReply:
    key: str
    text: str
    subject: str
    conversation_id: str | None = None
    to_email: str | None = None
    to_name: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    sender_name: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Delivered:
    external_id: str


class ReplyError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:300]


class ReplyRejected(ReplyError):
    """Permanent: retrying cannot help."""


class ReplyUnavailable(ReplyError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class ReplyOutcomeUnknown(ReplyError):
    """The call may have succeeded."""


class ReplyChannel(Protocol):
    name: str

    async def send(self, reply: OutboundReply) -> Delivered: ...

    async def find_sent(self, reply: OutboundReply) -> Delivered | None: ...

    async def close(self) -> None: ...


def build_reply_channels(settings: Any, config: Any) -> dict[str, ReplyChannel]:
    """The channels whose settings are present. (The channels themselves land with their fakes.)"""
    return {}
