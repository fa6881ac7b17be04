"""Support-mailbox intake: raw RFC 822 messages parsed into `ParsedEmail`, or `Skipped` with the
reason (auto-replies, bulk and list mail, bounces, oversized or sender-less messages). Pure code:
fetching the mailbox and creating cards live elsewhere."""

from __future__ import annotations

from integrations.email.parse import (
    Attachment,
    ParsedEmail,
    Skipped,
    normalize_message_id,
    parse_email,
)

__all__ = ["Attachment", "ParsedEmail", "Skipped", "normalize_message_id", "parse_email"]
