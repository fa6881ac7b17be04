"""Replies to a generic-webhook source: a signed POST to the source's ``notify_url``.

The body is ``{"type": "reply", "source", "external_id", "text", "sender", "key"}``, signed per
Standard Webhooks with ``INTAKE_SECRET`` (the secret the source already signs its intake with), and
``webhook-id`` is the reply's key. Receivers dedupe by webhook-id (Standard Webhooks asks them to), so a
resend after an unknown outcome is safe and ``find_sent`` answers None.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from .http import DEFAULT_TIMEOUT, HttpCaller
from .types import Delivered, OutboundReply, ReplyRejected

log = logging.getLogger(__name__)


class WebhookChannel:
    name = "webhook"

    def __init__(
        self, secret: str, notify_urls: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._signer = Webhook(secret)
        self._urls = {source.lower(): url for source, url in notify_urls.items()}
        self._http = HttpCaller("The webhook receiver", timeout=timeout)

    def can_reply(self, source: str | None) -> bool:
        """Whether replies to this source's customers can be sent (it has a notify_url)."""
        return source is not None and source.lower() in self._urls

    def payload(self, reply: OutboundReply) -> bytes:
        return json.dumps(
            {
                "type": "reply",
                "source": reply.source,
                "external_id": reply.conversation_id,
                "text": reply.text,
                "sender": reply.sender_name,
                "key": reply.key,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

    async def send(self, reply: OutboundReply) -> Delivered:
        if not self.can_reply(reply.source):
            raise ReplyRejected("this source has no notify_url for replies (replies.webhooks)")
        if not reply.conversation_id:
            raise ReplyRejected("the issue has no external id at its source")
        assert reply.source is not None
        url = self._urls[reply.source.lower()]
        body = self.payload(reply)
        # The header carries whole seconds, and the signature must cover the same timestamp.
        now = datetime.now(UTC).replace(microsecond=0)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": reply.key,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(reply.key, now, body.decode()),
        }
        await self._http.call("POST", url, headers=headers, body=body, what="the reply", effect=True)
        log.info("reply webhook delivered", extra={"reply_key": reply.key, "source": reply.source})
        return Delivered(external_id=reply.key)

    async def find_sent(self, reply: OutboundReply) -> Delivered | None:
        # Nothing to ask: the receiver dedupes by webhook-id, so sending again is the way to make sure.
        return None

    async def close(self) -> None:
        await self._http.close()
