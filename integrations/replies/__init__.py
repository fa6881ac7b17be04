"""Replies to customers: the channels that deliver a reply written in Slack back to the customer, by
e-mail (SMTP), in their Intercom conversation, on their Zendesk ticket, or to a generic-webhook source.

Each channel is used the same way (``ReplyChannel``): ``send`` a reply under an idempotency key, and after
``ReplyOutcomeUnknown`` ask ``find_sent`` whether it arrived before sending again.
"""

from __future__ import annotations

from .build import build_reply_channels
from .email import SmtpChannel
from .intercom import IntercomChannel
from .types import (
    Delivered,
    OutboundReply,
    ReplyChannel,
    ReplyError,
    ReplyOutcomeUnknown,
    ReplyRejected,
    ReplyUnavailable,
)
from .webhook import WebhookChannel
from .zendesk import ZendeskChannel

__all__ = [
    "Delivered",
    "IntercomChannel",
    "OutboundReply",
    "ReplyChannel",
    "ReplyError",
    "ReplyOutcomeUnknown",
    "ReplyRejected",
    "ReplyUnavailable",
    "SmtpChannel",
    "WebhookChannel",
    "ZendeskChannel",
    "build_reply_channels",
]
