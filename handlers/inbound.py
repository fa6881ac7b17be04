"""What every inbound route does to a request before anything reads it, in this order:

1. size: more than 1 MiB → 413, before the body is read when the sender says how long it is;
2. signature on the raw bytes → 401, before anything is parsed (Slack's verifier for /slack/events,
   Standard Webhooks for the intake, HMAC for Jira and the helpdesks);
3. UTF-8 → 400; JSON (or Slack's form with its JSON `payload`) → 400 naming the problem, nested at
   most `MAX_DEPTH` deep (a 50,000-deep body would otherwise exhaust the parser's recursion).

Bad requests are counted and sampled (`BadRequests`): one log line a minute per route says how many
there were and why the last one was refused, instead of a line — or a traceback — per request.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 32  # JSON nesting: Slack's deepest payloads (a modal's state) are under 10
SAMPLE_SECONDS = 60.0


class BadRequest(Exception):
    """The request is refused as it is: `status` (400, 401, 413, 415) and why, for the sender."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: web.Request) -> bytes:
    """The raw body, refusing more than 1 MiB before reading it when the sender says how long it is."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = await request.read()  # aiohttp enforces client_max_size for chunked bodies too
    except web.HTTPRequestEntityTooLarge:
        raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes") from None
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")
    return body


def utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"the body is not UTF-8 (byte {exc.start})") from None


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str | bytes, *, what: str = "the body") -> Any:
    """JSON nested at most `MAX_DEPTH` deep, or `BadRequest(400)` saying what is wrong with it."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadRequest(400, f"{what} is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"{what} is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            400, f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if _depth(value) > MAX_DEPTH:
        raise BadRequest(400, f"{what} is nested too deeply (at most {MAX_DEPTH} levels)")
    return value


def parse_json_object(text: str | bytes, *, what: str = "the body") -> dict[str, Any]:
    value = parse_json(text, what=what)
    if not isinstance(value, dict):
        raise BadRequest(400, f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def check_slack_body(text: str, content_type: str) -> None:
    """The shapes Slack sends: a JSON object (Events API) or a form whose `payload`, when present, is a
    JSON object (interactions); slash commands are plain forms."""
    if content_type == "application/json":
        parse_json_object(text)
        return
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequest(415, f"Slack sends JSON or a form, not {content_type or 'no content type'}")
    form = parse_qs(text, keep_blank_values=True, max_num_fields=1000)
    for payload in form.get("payload", []):
        parse_json_object(payload, what="the payload field")


class BadRequests:
    """Counts refused requests per route and logs one sample a minute per route (see module doc)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.counts: Counter[str] = Counter()  # all-time, by route (for metrics)
        self._since: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}

    def refused(self, route: str, status: int, reason: str) -> None:
        self.counts[route] += 1
        self._since[route] += 1
        now = self.clock()
        last = self._logged_at.get(route)
        if last is not None and now - last < SAMPLE_SECONDS:
            return
        self._logged_at[route] = now
        log.warning(
            "bad requests refused",
            extra={"route": route, "count": self._since[route], "status": status, "sample": reason[:200]},
        )
        self._since[route] = 0

    def failed(self, route: str, exc: Exception) -> None:
        """A bug met by a request: its traceback once a minute per route and error, then a count."""
        key = f"{route} {type(exc).__name__}"
        self.counts[key] += 1
        self._since[key] += 1
        now = self.clock()
        last = self._logged_at.get(key)
        if last is not None and now - last < SAMPLE_SECONDS:
            return
        self._logged_at[key] = now
        log.error("request failed", exc_info=exc, extra={"route": route, "count": self._since[key]})
        self._since[key] = 0


BAD_REQUESTS = web.AppKey("bad_requests", BadRequests)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def refuse_bad_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn a `BadRequest` anywhere in a route into its answer, counted and sampled."""
    try:
        return await handler(request)
    except BadRequest as exc:
        request.app[BAD_REQUESTS].refused(request.path, exc.status, exc.reason)
        return web.json_response({"error": exc.reason}, status=exc.status)
    except web.HTTPException:
        raise
    except Exception as exc:
        request.app[BAD_REQUESTS].failed(request.path, exc)
        return web.json_response({"error": "internal error"}, status=500)
