"""A stateful fake of Zendesk's Tickets API (public comments on tickets), served over real HTTP on loopback.

    async with FakeZendesk() as zendesk:
        ticket = zendesk.seed_ticket("The export times out")
        channel = ZendeskChannel(zendesk.url, zendesk.email, zendesk.api_token)
        reply = OutboundReply(key="reply:1", text="Fixed!", subject="", conversation_id=ticket)
        await channel.send(reply)
        assert zendesk.public_comments(ticket)[-1]["body"] == "Fixed!"

Zendesk publishes no machine-readable contract in ../shared/contracts, so this fake checks requests
strictly in code, against the API reference, all in one place (``_check_update`` and the routes):

- https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket —
  ``PUT /api/v2/tickets/{ticket_id}.json``, a JSON object ``{"ticket": {...}}`` whose ``comment`` is an
  object with ``body`` (or ``html_body``) a non-empty string, ``public`` a boolean and optionally
  ``author_id`` (integer) and ``uploads`` (tokens); unknown keys are refused here (Zendesk ignores
  them silently, which hides typos). The answer is ``{"ticket", "audit"}``, the audit's events holding
  the ``Comment``. A closed ticket cannot be updated (422 ``RecordInvalid``).
- https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#list-comments —
  ``GET /api/v2/tickets/{ticket_id}/comments.json`` (``sort_order=asc|desc``), ``{"comments", "count",
  "next_page", "previous_page"}``.
- https://developer.zendesk.com/api-reference/ticketing/users/users/#show-the-currently-authenticated-user
  — ``GET /api/v2/users/me.json``.
- https://developer.zendesk.com/api-reference/introduction/security-and-auth/#api-token — basic auth
  ``{email}/token:{api_token}``; anything else is 401 ``{"error": "Couldn't authenticate you"}``.

A request that breaks these rules is recorded in ``.violations`` and answered 400. Failures as in the
other fakes (``target`` is ``"METHOD /path"`` with wildcards, e.g. ``"PUT /api/v2/tickets/*"``):
``fail(target, status=429, retry_after=7)``, ``status=500``, ``slow=3.0``, ``answer_lost=True``,
``drop_connection=True``; ``recover()``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .slack_api import Failure, FakeServer

_TICKET = re.compile(r"^/api/v2/tickets/(?P<id>\d+)\.json$")
_COMMENTS = re.compile(r"^/api/v2/tickets/(?P<id>\d+)/comments\.json$")
# The ticket fields the Update Ticket reference lists (a reply needs only `comment`).
_TICKET_FIELDS = frozenset(
    {
        "comment", "status", "priority", "type", "subject", "assignee_id", "assignee_email", "group_id",
        "tags", "custom_fields", "due_at", "external_id", "requester_id", "collaborator_ids",
        "additional_collaborators", "email_ccs", "followers", "safe_update", "updated_stamp",
        "problem_id", "organization_id", "sharing_agreement_ids", "attribute_value_ids",
    }
)  # fmt: skip
_COMMENT_FIELDS = frozenset({"body", "html_body", "public", "author_id", "uploads"})


class _Violation(Exception):
    """A request that breaks Zendesk's documented rules: answered 400 and recorded as a violation."""


@dataclass
class Ticket:
    id: int
    requester_id: int
    subject: str
    status: str = "open"
    comments: list[dict[str, Any]] = field(default_factory=list)


class FakeZendesk(FakeServer):
    """Stateful fake of Zendesk's ticket comments (see the module docstring)."""

    def __init__(
        self, email: str = "bot@acme.example", api_token: str = "zendesk-test-token-0123456789"
    ) -> None:
        super().__init__()
        self.email = email
        self.api_token = api_token
        self.agent: dict[str, Any] = {"id": 9001, "name": "Supportbridge", "email": email, "role": "agent"}
        self.tickets: dict[int, Ticket] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.rejections: list[str] = []
        self._ids = itertools.count(100)
        self._clock = itertools.count()

    @property
    def url(self) -> str:
        return self.base_url

    # -- test helpers

    def seed_ticket(self, description: str = "The export times out", *, status: str = "open") -> str:
        requester = next(self._ids)
        ticket = Ticket(id=next(self._ids), requester_id=requester, subject=description[:60], status=status)
        ticket.comments.append(self._comment(description, public=True, author_id=requester))
        self.tickets[ticket.id] = ticket
        return str(ticket.id)

    def add_comment(
        self, ticket_id: str, body: str, *, public: bool = True, author_id: int | None = None
    ) -> str:
        comment = self._comment(body, public=public, author_id=author_id or self.agent["id"])
        self.tickets[int(ticket_id)].comments.append(comment)
        return str(comment["id"])

    def public_comments(self, ticket_id: str) -> list[dict[str, Any]]:
        return [c for c in self.tickets[int(ticket_id)].comments if c["public"]]

    def calls_to(self, method: str, pattern: str) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[0] == method and re.fullmatch(pattern, c[1])]

    # -- rendering

    def _now(self) -> str:
        moment = datetime.datetime(2024, 1, 1, 9, 0, tzinfo=datetime.UTC)
        return (moment + datetime.timedelta(seconds=next(self._clock))).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _comment(self, body: str, *, public: bool, author_id: int) -> dict[str, Any]:
        return {
            "id": next(self._ids),
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "html_body": f'<div class="zd-comment"><p>{body}</p></div>',
            "plain_body": body,
            "public": public,
            "attachments": [],
            "audit_id": next(self._ids),
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": self._now(),
        }

    def _render_ticket(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "id": ticket.id,
            "url": f"{self.base_url}/api/v2/tickets/{ticket.id}.json",
            "subject": ticket.subject,
            "status": ticket.status,
            "requester_id": ticket.requester_id,
            "updated_at": self._now(),
        }

    # -- HTTP

    async def _load_contract(self) -> None:
        return None  # no published contract: the rules are in this module

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def _failure_response(self, failure: Failure) -> web.Response:
        status = failure.status or 500
        headers = {}
        if status in (429, 503) and failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after))
        if status == 429:
            return web.Response(status=429, text="Too Many Requests", headers=headers)
        return web.json_response({"error": failure.error or "InternalError"}, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == f"{self.email}/token" and secret == self.api_token

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = _Violation
        self.calls.append((request.method, request.path, payload))
        failure = self._take_failure(f"{request.method} {request.path}")
        if failure is not None:
            early = await self._apply_failure(request, failure)
            if early is not None:
                return early
        if not self._authorized(request):
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        try:
            status, body = self._route(request, payload)
        except _Violation as e:
            self.violations.append(f"{request.method} {request.path}: {e}")
            return web.json_response({"error": "InvalidRequest", "description": str(e)}, status=400)
        if failure is not None and failure.answer_lost:
            if request.transport is not None:
                request.transport.close()  # carried out; the answer never arrives
            return web.Response(status=499)
        if status >= 400:
            self.rejections.append(f"{request.method} {request.path}: {body.get('error')}")
        return web.json_response(body, status=status)

    def _route(self, request: web.Request, payload: Any) -> tuple[int, dict[str, Any]]:
        path = request.path
        if request.method == "GET" and path == "/api/v2/users/me.json":
            return 200, {"user": dict(self.agent)}
        if request.method == "GET" and (match := _COMMENTS.match(path)):
            ticket = self.tickets.get(int(match["id"]))
            if ticket is None:
                return _not_found()
            order = request.query.get("sort_order", "asc")
            if order not in ("asc", "desc"):
                raise _Violation(f"sort_order must be asc or desc, not {order!r}")
            comments = list(ticket.comments if order == "asc" else reversed(ticket.comments))
            return 200, {
                "comments": comments,
                "count": len(comments),
                "next_page": None,
                "previous_page": None,
            }
        if request.method == "PUT" and (match := _TICKET.match(path)):
            if request.content_type != "application/json":
                raise _Violation(f"Content-Type must be application/json, not {request.content_type!r}")
            comment = _check_update(payload)
            ticket = self.tickets.get(int(match["id"]))
            if ticket is None:
                return _not_found()
            if ticket.status == "closed":
                return 422, {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
                }
            author = int(comment.get("author_id") or self.agent["id"])
            body = str(comment.get("body") or comment.get("html_body"))
            stored = self._comment(body, public=bool(comment.get("public", True)), author_id=author)
            ticket.comments.append(stored)
            event = {
                k: stored[k] for k in ("id", "type", "author_id", "body", "html_body", "plain_body", "public")
            }
            event["attachments"] = []
            event["audit_id"] = stored["audit_id"]
            audit = {
                "id": stored["audit_id"],
                "ticket_id": ticket.id,
                "created_at": stored["created_at"],
                "author_id": author,
                "events": [event],
            }
            return 200, {"ticket": self._render_ticket(ticket), "audit": audit}
        self.unhandled.append(f"{request.method} {path}")
        return 404, {"error": "InvalidEndpoint", "description": f"FakeZendesk does not implement {path}"}


def _check_update(payload: Any) -> dict[str, Any]:
    """The Update Ticket body, as the API reference describes it; returns its comment."""
    if payload is _Violation:
        raise _Violation("the body is not JSON")
    if not isinstance(payload, dict) or set(payload) != {"ticket"} or not isinstance(payload["ticket"], dict):
        raise _Violation('the body must be {"ticket": {...}}')
    ticket = payload["ticket"]
    unknown = set(ticket) - _TICKET_FIELDS
    if unknown:
        raise _Violation(f"unknown ticket fields {sorted(unknown)}")
    comment = ticket.get("comment")
    if not isinstance(comment, dict):
        raise _Violation("ticket.comment must be an object")
    unknown = set(comment) - _COMMENT_FIELDS
    if unknown:
        raise _Violation(f"unknown comment fields {sorted(unknown)}")
    text = comment.get("body", comment.get("html_body"))
    if not isinstance(text, str) or not text.strip():
        raise _Violation("ticket.comment.body must be a non-empty string")
    if "public" in comment and not isinstance(comment["public"], bool):
        raise _Violation("ticket.comment.public must be a boolean")
    if "author_id" in comment and not isinstance(comment["author_id"], int):
        raise _Violation("ticket.comment.author_id must be an integer")
    return comment


def _not_found() -> tuple[int, dict[str, Any]]:
    return 404, {"error": "RecordNotFound", "description": "Not found"}
