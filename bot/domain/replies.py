"""Answering customers from Slack: one reply (or one fix notice) sent through a report's own channel.

A reply is written in Slack and sent out only by "Reply to customer" (or "Tell all N customers…"):
thread messages never leave Slack. Each send is a `customer_replies` row whose state moves
queued → sent | failed (→ queued again on Retry) and, when the customer answers, replied.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# What a customer is sent at most: the most a Slack modal's text input takes.
REPLY_MAX_CHARS = 3000


class ReplyChannelName(StrEnum):
    EMAIL = "email"
    INTERCOM = "intercom"
    ZENDESK = "zendesk"
    WEBHOOK = "webhook"


CHANNEL_WORDS = {
    ReplyChannelName.EMAIL: "by e-mail",
    ReplyChannelName.INTERCOM: "on Intercom",
    ReplyChannelName.ZENDESK: "on Zendesk",
    ReplyChannelName.WEBHOOK: "through its webhook",
}


class ReplyState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    REPLIED = "replied"  # sent, and the customer has answered since


class ReplyPurpose(StrEnum):
    REPLY = "reply"  # "Reply to customer" on a card
    FIX_NOTICE = "fix_notice"  # "Tell all N customers…" when a fix ships


@dataclass(frozen=True)
class ReplyRoute:
    """How a report's customer can be answered: `channel` None means there is no way back, and
    `reason` says why (shown in the form, which then offers the text to copy)."""

    channel: ReplyChannelName | None
    reason: str | None = None


@dataclass(frozen=True)
class ReplyForm:
    """What "Reply to customer" opens with."""

    issue_id: int
    customer: str  # "Globex (Ana Pérez)"
    subject: str
    route: ReplyRoute
    text: str = ""  # prefilled (a macro, or the text of a failed send)
    macro_id: int | None = None  # the macro `text` came from: its use is counted when sent
    # Bumped each time a macro fills the text: a new block id makes Slack show the new text instead
    # of keeping what was typed in the old field.
    revision: int = 0


@dataclass(frozen=True)
class ReplyNote:
    """The reply as its card's thread shows it: who was sent what, how, by whom, and its state."""

    reply_id: int
    customer: str
    channel: ReplyChannelName
    sent_by: str | None
    state: ReplyState
    text: str
    reason: str | None = None
    purpose: ReplyPurpose = ReplyPurpose.REPLY


@dataclass(frozen=True)
class FixNoticeForm:
    """What "Tell all N customers…" opens with: the message (from `replies.fix_notice`, `{name}` left
    for each customer's name) and how many customers it reaches on each channel."""

    problem_id: int
    subject: str
    text: str
    by_channel: tuple[tuple[str, int], ...]  # ("by e-mail", 3), ("on Intercom", 2)
    unreachable: tuple[str, ...] = ()  # customers with no channel back: told another way

    @property
    def reachable(self) -> int:
        return sum(count for _, count in self.by_channel)
