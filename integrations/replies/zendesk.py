"""Replies on a Zendesk ticket: a public comment, so Zendesk e-mails it to the requester.

``PUT /api/v2/tickets/{id}.json`` with ``{"ticket": {"comment": {"body", "public": true}}}`` and basic
auth ``{email}/token:{api_token}``
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket,
https://developer.zendesk.com/api-reference/introduction/security-and-auth/#api-token). The answer's
audit holds the new comment; its id is what ``Delivered`` carries.

Zendesk keeps no idempotency key on a comment, so after an unknown outcome ``find_sent`` lists the
ticket's comments (``GET /api/v2/tickets/{id}/comments.json``, newest first) and adopts the newest
public comment by the API user (``GET /api/v2/users/me.json``, asked once) when its body is the reply's
text. An older comment with the same words is an earlier reply, not this one.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

from .http import DEFAULT_TIMEOUT, HttpCaller
from .types import Delivered, OutboundReply, ReplyOutcomeUnknown, ReplyRejected, ReplyUnavailable

log = logging.getLogger(__name__)

_TICKET_ID = re.compile(r"^[0-9]{1,20}$")


def comparable(text: str) -> str:
    return " ".join(text.split())


def _error_code(answer: Any) -> Any:
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):
            return error.get("title")
        return error
    return None


class ZendeskChannel:
    name = "zendesk"

    def __init__(self, api_url: str, email: str, api_token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._base = api_url.rstrip("/")
        credentials = base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        self._auth = f"Basic {credentials}"
        self._http = HttpCaller("Zendesk", timeout=timeout)
        self._user_id: str | None = None

    def _headers(self, *, json_body: bool = False) -> dict[str, str]:
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _ticket(self, reply: OutboundReply) -> str:
        if not reply.conversation_id or not _TICKET_ID.match(reply.conversation_id):
            raise ReplyRejected("the issue has no Zendesk ticket id")
        return reply.conversation_id

    async def send(self, reply: OutboundReply) -> Delivered:
        ticket = self._ticket(reply)
        body = json.dumps({"ticket": {"comment": {"body": reply.text, "public": True}}}).encode()
        _, answer = await self._http.call(
            "PUT",
            f"{self._base}/api/v2/tickets/{ticket}.json",
            headers=self._headers(json_body=True),
            body=body,
            what="the comment",
            effect=True,
            error_code=_error_code,
        )
        comment_id = _comment_id(answer)
        if comment_id is None:
            raise ReplyOutcomeUnknown("Zendesk's answer held no comment")
        log.info("reply sent to Zendesk", extra={"reply_key": reply.key, "comment_id": comment_id})
        return Delivered(external_id=comment_id)

    async def user_id(self) -> str:
        if self._user_id is None:
            _, answer = await self._http.call(
                "GET",
                f"{self._base}/api/v2/users/me.json",
                headers=self._headers(),
                what="GET users/me",
                effect=False,
                error_code=_error_code,
            )
            user = answer.get("user") if isinstance(answer, dict) else None
            if not isinstance(user, dict) or user.get("id") is None:
                raise ReplyUnavailable("Zendesk's users/me named no user")
            self._user_id = str(user["id"])
        return self._user_id

    async def find_sent(self, reply: OutboundReply) -> Delivered | None:
        ticket = self._ticket(reply)
        me = await self.user_id()
        _, answer = await self._http.call(
            "GET",
            f"{self._base}/api/v2/tickets/{ticket}/comments.json?sort_order=desc",
            headers=self._headers(),
            what="GET the comments",
            effect=False,
            error_code=_error_code,
        )
        comments = answer.get("comments") if isinstance(answer, dict) else None
        for comment in comments if isinstance(comments, list) else []:
            if not isinstance(comment, dict) or comment.get("public") is not True:
                continue
            if str(comment.get("author_id")) != me:
                continue
            # The newest public comment of ours decides: it is this reply or it is not.
            if comparable(str(comment.get("body") or "")) == comparable(reply.text):
                log.info(
                    "reply found in Zendesk", extra={"reply_key": reply.key, "comment_id": comment["id"]}
                )
                return Delivered(external_id=str(comment["id"]))
            return None
        return None

    async def close(self) -> None:
        await self._http.close()


def _comment_id(answer: Any) -> str | None:
    audit = answer.get("audit") if isinstance(answer, dict) else None
    events = audit.get("events") if isinstance(audit, dict) else None
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("type") == "Comment" and event.get("id") is not None:
            return str(event["id"])
    return None
