"""A stateful fake of Intercom's REST API (the part a support bot replies through), served over real
HTTP on loopback.

    async with FakeIntercom() as intercom:
        conversation = intercom.seed_conversation(customer_text="The export times out")
        channel = IntercomChannel(intercom.token, api_url=intercom.url)
        reply = OutboundReply(key="reply:1", text="Fixed!", subject="", conversation_id=conversation)
        await channel.send(reply)
        assert intercom.admin_comments(conversation) == ["<p>Fixed!</p>"]

Routes: ``GET /me`` (the token's admin), ``GET /conversations/{id}`` (with its parts;
``display_as=plaintext`` strips the HTML) and ``POST /conversations/{id}/reply``. Every request must
carry the bearer token and an ``Intercom-Version`` header, and every request and answer is checked
against Intercom's published OpenAPI (``../shared/contracts/intercom/api.intercom.io.yaml``): a
violation is recorded in ``.violations`` (answered 400) or, for the fake's own answers,
``.response_violations``. Beyond the schema, as Intercom does: the conversation must exist (404
``not_found``), an admin reply must name the token's admin (400 ``parameter_invalid``) and a comment
needs a body (400 ``parameter_not_found``).

Failures (``target`` is ``"METHOD /path"`` with shell wildcards, e.g. ``"POST /conversations/*/reply"``):
``fail(target, status=429, retry_after=5)`` / ``status=500`` (answered before anything happens),
``fail(target, slow=3.0)`` (answered late: beyond the client's timeout it gives up, yet the reply is
still made), ``fail(target, answer_lost=True)`` (the reply is made, then the connection is closed
unanswered: an unknown outcome), ``fail(target, drop_connection=True)``; ``recover()``.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .contracts import (
    ContractViolation,
    intercom_spec,
    validate_intercom_request,
    validate_intercom_response,
)
from .slack_api import Failure, FakeServer

_CONVERSATION = re.compile(r"^/conversations/(?P<id>[^/]+)$")
_REPLY = re.compile(r"^/conversations/(?P<id>[^/]+)/reply$")
_TAG = re.compile(r"<[^>]+>")
START_TIME = 1734537000


@dataclass
class Conversation:
    id: str
    contact_id: str
    parts: list[dict[str, Any]] = field(default_factory=list)
    created_at: int = START_TIME


def _plaintext(body: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>\s*<p>", "\n", body)
    return html.unescape(_TAG.sub("", text))


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": code, "message": message}],
    }
    return web.json_response(body, status=status, headers=headers)


class FakeIntercom(FakeServer):
    """Stateful fake of Intercom's conversations API (see the module docstring)."""

    def __init__(self, token: str = "intercom-test-token-0123456789", *, check_contract: bool = True) -> None:
        super().__init__()
        self.token = token
        self.check_contract = check_contract
        self.admin = {
            "type": "admin",
            "id": "991267459",
            "name": "Supportbridge",
            "email": "bot@help.example.com",
        }
        self.conversations: dict[str, Conversation] = {}
        self.calls: list[tuple[str, str, Any]] = []  # (method, path, JSON body)
        self.rejections: list[str] = []
        self._ids = itertools.count(1000)
        self._clock = itertools.count(START_TIME)

    @property
    def url(self) -> str:
        return self.base_url

    # -- test helpers

    def seed_conversation(self, customer_text: str = "Hello, the export times out.") -> str:
        """A conversation a customer started; returns its id."""
        conversation = Conversation(id=str(next(self._ids)), contact_id=f"contact-{next(self._ids)}")
        conversation.parts.append(self._part("comment", f"<p>{html.escape(customer_text)}</p>", "user"))
        self.conversations[conversation.id] = conversation
        return conversation.id

    def add_admin_comment(self, conversation_id: str, body: str, *, admin_id: str | None = None) -> str:
        """A comment an admin made in Intercom itself (``admin_id`` another teammate's by default: ours)."""
        part = self._part("comment", body, "admin", admin_id or self.admin["id"])
        self.conversations[conversation_id].parts.append(part)
        return str(part["id"])

    def admin_comments(self, conversation_id: str) -> list[str]:
        """The bodies of our admin's comments, oldest first, as stored (HTML)."""
        return [
            p["body"]
            for p in self.conversations[conversation_id].parts
            if p["part_type"] == "comment"
            and p["author"]["type"] == "admin"
            and p["author"]["id"] == self.admin["id"]
        ]

    def calls_to(self, method: str, pattern: str) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[0] == method and re.fullmatch(pattern, c[1])]

    # -- rendering

    def _part(
        self, part_type: str, body: str, author_type: str, author_id: str | None = None
    ) -> dict[str, Any]:
        now = next(self._clock)
        if author_type == "admin":
            author = {
                "type": "admin",
                "id": author_id or self.admin["id"],
                "name": "Teammate",
                "email": "team@help.example.com",
            }
        else:
            author = {"type": "user", "id": "contact-1", "name": "Ana Lima", "email": "ana@customer.example"}
        return {
            "type": "conversation_part",
            "id": str(next(self._ids)),
            "part_type": part_type,
            "body": body,
            "created_at": now,
            "updated_at": now,
            "notified_at": now,
            "author": author,
            "attachments": [],
            "redacted": False,
        }

    def _render(self, conversation: Conversation, *, plaintext: bool = False) -> dict[str, Any]:
        parts = [
            {**part, "body": _plaintext(part["body"])} if plaintext and part["body"] else part
            for part in conversation.parts
        ]
        updated = parts[-1]["updated_at"] if parts else conversation.created_at
        return {
            "type": "conversation",
            "id": conversation.id,
            "created_at": conversation.created_at,
            "updated_at": updated,
            "open": True,
            "state": "open",
            "read": True,
            "priority": "not_priority",
            "admin_assignee_id": int(self.admin["id"]),
            "tags": {"type": "tag.list", "tags": []},
            "contacts": {
                "type": "contact.list",
                "contacts": [{"type": "contact", "id": conversation.contact_id, "external_id": None}],
            },
            "conversation_parts": {
                "type": "conversation_part.list",
                "conversation_parts": parts,
                "total_count": len(parts),
            },
        }

    # -- HTTP

    async def _load_contract(self) -> None:
        if self.check_contract:
            await asyncio.to_thread(intercom_spec)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def _failure_response(self, failure: Failure) -> web.Response:
        status = failure.status or 500
        headers = {}
        if status == 429 and failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after))
        code = {429: "rate_limit_exceeded", 503: "service_unavailable"}.get(status, "server_error")
        return _error(status, failure.error or code, "Injected failure", headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        self.calls.append((request.method, request.path, payload))
        failure = self._take_failure(f"{request.method} {request.path}")
        if failure is not None:
            early = await self._apply_failure(request, failure)
            if early is not None:
                return early
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "Access Token Invalid")
        if self.check_contract:
            try:
                validate_intercom_request(
                    request.method, request.path, request.headers, raw, request.query_string
                )
            except ContractViolation as e:
                self.violations.append(e.reason)
                return _error(400, "parameter_invalid", e.reason[:300])
        status, body = self._route(request, payload)
        if self.check_contract and 200 <= status < 300:
            try:
                validate_intercom_response(request.method, request.path, status, body)
            except ContractViolation as e:
                self.response_violations.append(e.reason)
        if failure is not None and failure.answer_lost:
            if request.transport is not None:
                request.transport.close()  # carried out; the answer never arrives
            return web.Response(status=499)
        if status >= 400:
            self.rejections.append(f"{request.method} {request.path}: {body['errors'][0]['code']}")
        return web.json_response(body, status=status)

    def _route(self, request: web.Request, payload: Any) -> tuple[int, dict[str, Any]]:
        path = request.path
        if request.method == "GET" and path == "/me":
            return 200, {**self.admin, "email_verified": True, "has_inbox_seat": True}
        if request.method == "GET" and (match := _CONVERSATION.match(path)):
            conversation = self.conversations.get(match["id"])
            if conversation is None:
                return _not_found()
            return 200, self._render(conversation, plaintext=request.query.get("display_as") == "plaintext")
        if request.method == "POST" and (match := _REPLY.match(path)):
            return self._reply(match["id"], payload)
        self.unhandled.append(f"{request.method} {path}")
        return 404, {
            "type": "error.list",
            "request_id": str(uuid.uuid4()),
            "errors": [
                {"code": "not_found", "message": f"FakeIntercom does not implement {request.method} {path}"}
            ],
        }

    def _reply(self, conversation_id: str, payload: Any) -> tuple[int, dict[str, Any]]:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return _not_found()
        assert isinstance(payload, dict)  # the contract check made sure
        if payload.get("type") == "admin" and str(payload.get("admin_id")) != self.admin["id"]:
            return _bad_request("parameter_invalid", "Admin not found")
        if payload.get("message_type") in ("comment", "note") and not payload.get("body"):
            return _bad_request("parameter_not_found", "Body is required")
        author = "admin" if payload.get("type") == "admin" else "user"
        conversation.parts.append(
            self._part(str(payload["message_type"]), str(payload.get("body", "")), author)
        )
        rendered = self._render(conversation)
        # Intercom answers a reply with the conversation, its parts being the ones just added.
        rendered["conversation_parts"] = {
            "type": "conversation_part.list",
            "conversation_parts": [conversation.parts[-1]],
            "total_count": 1,
        }
        return 200, rendered


def _not_found() -> tuple[int, dict[str, Any]]:
    return 404, {
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": "not_found", "message": "Resource Not Found"}],
    }


def _bad_request(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": code, "message": message}],
    }
