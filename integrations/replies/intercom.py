"""Replies in an Intercom conversation, as an admin (the access token's own admin, from ``GET /me``).

``POST /conversations/{id}/reply`` with ``{"message_type": "comment", "type": "admin", "admin_id", "body"}``
(https://developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/replyconversation).
Intercom keeps no idempotency key on a reply, so after an unknown outcome ``find_sent`` reads the
conversation (``GET /conversations/{id}?display_as=plaintext``) and adopts our admin's newest comment
when its text is the reply's text. Only the newest is looked at: an older comment with the same words
("Thanks!") is an earlier reply, not this one.
"""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any
from urllib.parse import quote

from .http import DEFAULT_TIMEOUT, HttpCaller
from .types import Delivered, OutboundReply, ReplyOutcomeUnknown, ReplyRejected, ReplyUnavailable

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.intercom.io"
API_VERSION = "2.14"
_CONVERSATION_ID = re.compile(r"^[0-9]{1,30}$")
_TAG = re.compile(r"<[^>]+>")


def comparable(text: str) -> str:
    """Text as Intercom may hand it back (HTML or plain): tags dropped, entities decoded, spaces folded."""
    text = re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def html_body(text: str) -> str:
    """A comment body: Intercom reads HTML, so the customer-facing text is escaped and paragraphed."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(f"<p>{html.escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def _error_code(answer: Any) -> Any:
    if isinstance(answer, dict) and isinstance(answer.get("errors"), list) and answer["errors"]:
        first = answer["errors"][0]
        return first.get("code") if isinstance(first, dict) else None
    return None


class IntercomChannel:
    name = "intercom"

    def __init__(
        self, access_token: str, *, api_url: str = DEFAULT_API_URL, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._token = access_token
        self._base = api_url.rstrip("/")
        self._http = HttpCaller("Intercom", timeout=timeout)
        self._admin_id: str | None = None

    def _headers(self, *, json_body: bool = False) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "Intercom-Version": API_VERSION,
        }
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    async def admin_id(self) -> str:
        """The id of the admin the token acts as (asked once)."""
        if self._admin_id is None:
            _, me = await self._http.call(
                "GET",
                f"{self._base}/me",
                headers=self._headers(),
                what="GET /me",
                effect=False,
                error_code=_error_code,
            )
            admin = me.get("id") if isinstance(me, dict) else None
            if not isinstance(admin, str | int) or not str(admin):
                raise ReplyUnavailable("Intercom's /me named no admin")
            self._admin_id = str(admin)
        return self._admin_id

    def _conversation(self, reply: OutboundReply) -> str:
        if not reply.conversation_id or not _CONVERSATION_ID.match(reply.conversation_id):
            raise ReplyRejected("the issue has no Intercom conversation id")
        return quote(reply.conversation_id, safe="")

    async def send(self, reply: OutboundReply) -> Delivered:
        conversation = self._conversation(reply)
        admin = await self.admin_id()
        body = json.dumps(
            {"message_type": "comment", "type": "admin", "admin_id": admin, "body": html_body(reply.text)}
        ).encode()
        _, answer = await self._http.call(
            "POST",
            f"{self._base}/conversations/{conversation}/reply",
            headers=self._headers(json_body=True),
            body=body,
            what="the reply",
            effect=True,
            error_code=_error_code,
        )
        part = self._newest_admin_comment(answer, admin)
        if part is None:
            # 200 yet no part of ours in the answer: the reply's id cannot be told, so look it up.
            raise ReplyOutcomeUnknown("Intercom's answer to the reply held no admin comment")
        log.info("reply sent to Intercom", extra={"reply_key": reply.key, "part_id": part["id"]})
        return Delivered(external_id=str(part["id"]))

    async def find_sent(self, reply: OutboundReply) -> Delivered | None:
        conversation = self._conversation(reply)
        admin = await self.admin_id()
        _, answer = await self._http.call(
            "GET",
            f"{self._base}/conversations/{conversation}?display_as=plaintext",
            headers=self._headers(),
            what="GET the conversation",
            effect=False,
            error_code=_error_code,
        )
        part = self._newest_admin_comment(answer, admin)
        if part is not None and comparable(str(part.get("body") or "")) == comparable(reply.text):
            log.info("reply found in Intercom", extra={"reply_key": reply.key, "part_id": part["id"]})
            return Delivered(external_id=str(part["id"]))
        return None

    @staticmethod
    def _newest_admin_comment(conversation: Any, admin: str) -> dict[str, Any] | None:
        if not isinstance(conversation, dict):
            return None
        listing = conversation.get("conversation_parts")
        parts = listing.get("conversation_parts") if isinstance(listing, dict) else None
        if not isinstance(parts, list):
            return None
        for part in reversed(parts):
            author = part.get("author") if isinstance(part, dict) else None
            if (
                isinstance(author, dict)
                and part.get("part_type") == "comment"
                and author.get("type") == "admin"
                and str(author.get("id")) == admin
                and part.get("id") is not None
            ):
                return part
        return None

    async def close(self) -> None:
        await self._http.close()
