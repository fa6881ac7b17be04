"""A stateful fake of Slack's Web API, served over real HTTP on the loopback interface.

    async with FakeSlack() as slack:
        channel = slack.add_channel("support")
        client = AsyncWebClient(token=slack.token, base_url=slack.url)
        await client.chat_postMessage(channel=channel, text="hi")
        assert slack.messages(channel)[0]["text"] == "hi"
        slack.assert_no_violations()

Every request is checked against Slack's published Web API contract (and Block Kit rules,
see ``contracts.py``); a violation is answered the way Slack answers a bad call and is recorded
in ``slack.violations``.  Success responses are checked too (``slack.response_violations``
then points at a bug in this fake).

The module also holds :class:`FakeServer`, the loopback server / failure-injection machinery
that :class:`~sandbox.fakes.jira_api.FakeJira` shares.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import copy
import datetime
import fnmatch
import inspect
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from aiohttp import web

from .contracts import (
    ContractViolation,
    parse_slack_args,
    slack_spec,
    validate_slack_request,
    validate_slack_response,
)

# --------------------------------------------------------------------------- shared machinery


@dataclass
class Failure:
    """A failure injected into the next ``remaining`` matching requests (``None``: until recovered)."""

    pattern: str
    remaining: int | None
    status: int | None = None
    retry_after: int | None = None
    error: str | None = None
    drop_connection: bool = False
    slow: float = 0.0
    answer_lost: bool = False  # the call takes effect, then the connection closes unanswered

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key, self.pattern)


class FakeServer(abc.ABC):
    """An aiohttp app on 127.0.0.1 (ephemeral port) with failure injection and test helpers."""

    def __init__(self) -> None:
        self.latency: float = 0.0  # artificial delay added to every request, in seconds
        self.violations: list[str] = []  # contract violations in requests (the client's fault)
        self.response_violations: list[str] = []  # contract violations in our answers (the fake's)
        self.unhandled: list[str] = []  # valid calls this fake does not implement
        self.base_url: str = ""  # http://127.0.0.1:PORT
        self._failures: list[Failure] = []
        self._runner: web.AppRunner | None = None

    # -- lifecycle

    @abc.abstractmethod
    def _make_app(self) -> web.Application:
        """The fake's routes."""

    @abc.abstractmethod
    async def _load_contract(self) -> None:
        """Load the contract off the event loop, so the first request is not slow."""

    async def start(self) -> None:
        await self._load_contract()
        self._runner = web.AppRunner(
            self._make_app(), handle_signals=False, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- failure injection

    def fail(
        self,
        target: str,
        times: int | None = 1,
        *,
        status: int | None = None,
        retry_after: int | None = 1,
        error: str | None = None,
        drop_connection: bool = False,
        slow: float = 0.0,
        answer_lost: bool = False,
    ) -> None:
        """Make the next ``times`` requests to ``target`` fail (``times=None``: until recovered).

        ``target`` is matched with shell wildcards (``"*"`` matches everything).  Only one of:
        ``error=...`` (a service-level error), ``status=...`` (an HTTP status; 429 carries
        ``Retry-After: retry_after``), ``drop_connection=True`` (the connection is closed with no
        answer).  ``slow=seconds`` delays the answer (alone: then answers normally).  With none
        of them, the request is rate limited (429).  Failures apply before any state change, except
        ``answer_lost=True``: the call is carried out, then the connection is closed without an
        answer (a crash, a timeout or a network drop after the service did the work).
        """
        if error is None and status is None and not drop_connection and not slow and not answer_lost:
            status = 429
        self._failures.append(
            Failure(target, times, status, retry_after, error, drop_connection, slow, answer_lost)
        )

    def fail_all(self, target: str, **kwargs: Any) -> None:
        """Like :meth:`fail`, for every request to ``target`` until :meth:`recover`."""
        self.fail(target, None, **kwargs)

    def recover(self, target: str | None = None) -> None:
        """Remove injected failures for ``target`` (all of them when ``None``)."""
        self._failures = [f for f in self._failures if target is not None and f.pattern != target]

    def _take_failure(self, key: str) -> Failure | None:
        for failure in self._failures:
            if failure.matches(key):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    async def _apply_failure(self, request: web.Request, failure: Failure) -> web.StreamResponse | None:
        if failure.slow:
            await asyncio.sleep(failure.slow)
        if failure.answer_lost:
            return None  # carried out; the answer is dropped by the service's handler
        if failure.drop_connection:
            # A network drop: close the socket without answering. The response returned
            # below is never written (aiohttp skips writes to a closed transport).
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)
        if failure.error is not None or failure.status is not None:
            return self._failure_response(failure)
        return None  # slow only: carry on normally

    @abc.abstractmethod
    def _failure_response(self, failure: Failure) -> web.Response:
        """How this service answers an injected failure."""

    # -- helpers for tests

    def _recent_activity(self) -> str:
        return ""

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        *,
        interval: float = 0.01,
        message: str | None = None,
    ) -> Any:
        """Poll ``predicate`` (sync or async) until it returns something truthy; return that.

        Raises AssertionError with the recent traffic when ``timeout`` seconds pass.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if loop.time() >= deadline:
                raise AssertionError(
                    f"wait_for: {message or _describe_callable(predicate)} still false after "
                    f"{timeout}s.{self._recent_activity()}"
                )
            await asyncio.sleep(interval)

    def assert_no_violations(self) -> None:
        """Fail when a request broke the contract (or an answer of the fake did)."""
        problems = [f"request: {v}" for v in self.violations]
        problems += [f"response (bug in the fake): {v}" for v in self.response_violations]
        if problems:
            raise AssertionError("contract violations:\n  " + "\n  ".join(problems))


def _describe_callable(fn: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(fn).strip()
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


# --------------------------------------------------------------------------- Slack


class SlackError(Exception):
    """Answered as HTTP 200 ``{"ok": false, "error": error, **extra}``, like Slack does."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None
    is_archived: bool = False
    bot_member: bool = True
    members: set[str] = field(default_factory=set)
    created: int = 1700000000
    messages: list[dict[str, Any]] = field(default_factory=list)  # all, incl. replies, by ts
    ephemerals: list[dict[str, Any]] = field(default_factory=list)


def _response_problems(body: Any) -> list[str]:
    """What Slack would refuse in a response_url message (Block Kit checked with slack_sdk's models)."""
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.blocks import Block

    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems: list[str] = []
    if not isinstance(body.get("text", ""), str):
        problems.append("text is not a string")
    for name in ("replace_original", "delete_original"):
        if name in body and not isinstance(body[name], bool):
            problems.append(f"{name} is not a boolean")
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return [*problems, "blocks must be a list of at most 50"]
    for block in blocks:
        try:
            parsed = Block.parse(block)
            if parsed is None:
                raise SlackObjectFormationError(f"unknown block {block!r:.80}")
            parsed.validate_json()
        except (SlackObjectFormationError, TypeError, KeyError) as exc:
            problems.append(f"invalid block: {exc}")
    return problems


def _ts_key(ts: str | float | int) -> tuple[int, int]:
    """Slack timestamps compared exactly ("1700000000.000100" > "1700000000.0001" is false)."""
    sec, _, frac = str(ts).partition(".")
    return int(sec or 0), int((frac + "000000")[:6])


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


# Keys of a stored message that are our bookkeeping, not part of Slack's message object.
_INTERNAL_MESSAGE_KEYS = frozenset(
    {"channel", "unfurl_links", "unfurl_media", "reply_broadcast", "mrkdwn", "parse", "link_names"}
)
_MESSAGE_ARG_KEYS = ("text", "blocks", "attachments", "metadata", "username", "icon_emoji", "icon_url")


class FakeSlack(FakeServer):
    """Stateful fake of the Slack Web API (see module docstring)."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        *,
        team_name: str = "Fake Workspace",
        bot_name: str = "supportbridge",
        start_ts: int = 1700000000,
        check_contract: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        # Socket Mode: the app-level token apps.connections.open accepts, and the fake WebSocket server
        # whose URLs it hands out (sandbox.fakes.socket_mode.attach sets both).
        self.app_token: str | None = None
        self.socket_mode: Any = None
        # Off only in benchmarks, where validating every call would make the fake the bottleneck;
        # the test suite always checks the contract.
        self.check_contract = check_contract
        self.team_name = team_name
        self._counters: dict[str, itertools.count[int]] = {}
        self.team_id = self._next_id("T")
        self.app_id = self._next_id("A")
        self.bot_id = self._next_id("B")
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}  # user id -> published Home tab
        self.usergroups: dict[str, list[str]] = {}  # user group id ("S...") -> member user ids
        self.disabled_usergroups: set[str] = set()  # listed by usergroups.list only with include_disabled
        self._views: dict[str, dict[str, Any]] = {}
        self._used_triggers: set[str] = set()
        self._ts_counter = itertools.count(1)
        self._start_ts = start_ts
        self.bot_user_id = self.add_user(bot_name, real_name=bot_name.title(), is_bot=True)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        # The bot token's scopes; take one away (`scopes.discard("files:write")`) to see `missing_scope`.
        self.scopes: set[str] = set(BOT_SCOPES)
        self.pending_uploads: dict[str, dict[str, Any]] = {}  # file id -> requested upload, until completed
        self.files: dict[str, dict[str, Any]] = {}  # file id -> shared file, with its bytes in "content"
        self.response_hooks: dict[str, dict[str, Any]] = {}  # response URL id -> where it answers
        self.response_bodies: dict[str, list[dict[str, Any]]] = {}  # response URL id -> bodies sent

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    @property
    def url(self) -> str:
        """Web API base URL for slack_sdk's ``base_url`` (ends with ``/api/``)."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ seeding / introspection

    def _next_id(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}{next(counter):010d}"

    def next_ts(self) -> str:
        """A new message timestamp, strictly increasing ("1700000000.000100", ...)."""
        micros = next(self._ts_counter) * 100
        return f"{self._start_ts + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_trigger_id(self) -> str:
        """A fresh trigger_id, as carried by interactivity payloads (single use for views)."""
        return f"{next(self._ts_counter)}.{self.team_id[1:]}.{self._next_id('trg')[3:]}"

    def add_channel(
        self,
        name: str,
        members_bot: bool = True,
        *,
        is_private: bool = False,
        members: list[str] | tuple[str, ...] = (),
    ) -> str:
        """Create a channel (the bot is a member unless ``members_bot=False``); returns its id."""
        channel_id = self._next_id("G" if is_private else "C")
        self.channels[channel_id] = Channel(
            id=channel_id,
            name=name.lstrip("#"),
            is_private=is_private,
            bot_member=members_bot,
            members=set(members),
        )
        return channel_id

    def archive_channel(self, channel: str) -> None:
        self._channel(channel).is_archived = True

    def add_user(
        self,
        name: str,
        *,
        real_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
        is_admin: bool = False,
        tz: str = "UTC",
        deleted: bool = False,
    ) -> str:
        """Create a workspace member; returns its id ("U...")."""
        user_id = self._next_id("U")
        real = real_name or name.replace(".", " ").title()
        offset = ZoneInfo(tz).utcoffset(datetime.datetime(2024, 1, 1))
        profile: dict[str, Any] = {
            "real_name": real,
            "real_name_normalized": real,
            "display_name": name,
            "display_name_normalized": name,
            "avatar_hash": "g0000000000a",
            "title": "",
            "phone": "",
            "skype": "",
            "status_text": "",
            "status_emoji": "",
            "fields": None,
            "team": self.team_id,
            "image_72": f"https://fake.slack.com/avatars/{user_id}_72.png",
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self.bot_id if not self.users else self._next_id("B")  # first: us
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": self._start_ts,
            "profile": profile,
        }
        return user_id

    def _channel(self, channel: str) -> Channel:
        """Look a channel up by id, name or #name (tests use any of them)."""
        if channel in self.channels:
            return self.channels[channel]
        name = channel.lstrip("#")
        for ch in self.channels.values():
            if ch.name == name and not ch.is_im:
                return ch
        raise KeyError(f"FakeSlack has no channel {channel!r}; known: {sorted(self.channels)}")

    def channel_id(self, name: str) -> str:
        return self._channel(name).id

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call to ``method`` (including failed ones), in order."""
        return [args for name, args in self.calls if name == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of a channel (thread parents included, replies not), oldest first."""
        return [m for m in self._channel(channel).messages if _is_top_level(m)]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The parent message ``ts`` and its replies, oldest first."""
        ch = self._channel(channel)
        return [m for m in ch.messages if m["ts"] == ts or m.get("thread_ts") == ts]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        for m in self._channel(channel).messages:
            if m["ts"] == ts:
                return m
        raise KeyError(f"no message {ts} in {channel}")

    def ephemerals(self, channel: str, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages posted in a channel (to ``user`` only, if given), oldest first."""
        return [e for e in self._channel(channel).ephemerals if user is None or e["recipient"] == user]

    @property
    def views(self) -> list[dict[str, Any]]:
        """Every view opened/pushed/published, current state, in creation order."""
        return list(self._views.values())

    @property
    def modals(self) -> list[dict[str, Any]]:
        """The modals among `views` (Home tabs are published alongside, at any moment)."""
        return [v for v in self._views.values() if v.get("type") == "modal"]

    def view(self, view_id: str) -> dict[str, Any]:
        return self._views[view_id]

    def post_message_in(
        self, channel: str, text: str, user: str, thread_ts: str | None = None, **extra: Any
    ) -> str:
        """Seed a message written by a human ``user``; returns its ts."""
        ch = self._channel(channel)
        message: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "team": self.team_id,
            "client_msg_id": f"00000000-0000-4000-8000-{next(self._ts_counter):012d}",
            **extra,
        }
        return self._store_message(ch, message, thread_ts)["ts"]

    def _recent_activity(self) -> str:
        calls = "\n    ".join(f"{m} {_short_args(a)}" for m, a in self.calls[-10:]) or "(none)"
        text = f"\n  last calls:\n    {calls}"
        if self.violations:
            text += "\n  violations:\n    " + "\n    ".join(self.violations)
        return text

    # ------------------------------------------------------------------ HTTP

    async def _load_contract(self) -> None:
        await asyncio.to_thread(slack_spec)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=10 * 1024**2)
        app.router.add_route("GET", "/api/{method}", self._handle)
        app.router.add_route("POST", "/api/{method}", self._handle)
        app.router.add_route("POST", "/upload/v1/{file_id}", self._upload)
        app.router.add_route("GET", "/files/{file_id}", self._download)
        app.router.add_route("POST", "/hooks/actions/{hook_id}", self._response_url)
        return app

    # -- response_url (hooks.slack.com/actions/… in production) -------------------------------------
    #
    # Slack documents it at https://api.slack.com/interactivity/handling#message_responses: a JSON
    # POST with `text`/`blocks` and `replace_original` (or `delete_original`, `response_type`), usable
    # five times within 30 minutes; it answers 200 "ok", or 404 with an error when used up or unknown.

    RESPONSE_URL_USES = 5

    def response_url(self, channel: str, user: str, ephemeral_ts: str | None = None) -> str:
        """A response URL as Slack puts in an interaction payload: `ephemeral_ts` names the ephemeral
        message the click came from, which `replace_original` then rewrites."""
        hook_id = self._next_id("H")
        self.response_hooks[hook_id] = {"channel": channel, "user": user, "ts": ephemeral_ts, "uses": 0}
        return f"{self.base_url}/hooks/actions/{hook_id}"

    def responses(self, url: str) -> list[dict[str, Any]]:
        """What was sent to a response URL, oldest first."""
        return list(self.response_bodies.get(url.rsplit("/", 1)[-1], []))

    async def _response_url(self, request: web.Request) -> web.StreamResponse:
        hook_id = request.match_info["hook_id"]
        hook = self.response_hooks.get(hook_id)
        if hook is None:
            return web.Response(status=404, text="invalid_token")
        if hook["uses"] >= self.RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        if request.content_type != "application/json":
            self.violations.append(f"response_url: Content-Type {request.content_type!r}, not JSON")
            return web.Response(status=400, text="invalid_payload")
        try:
            body = json.loads(await request.read())
        except ValueError:
            self.violations.append("response_url: the body is not JSON")
            return web.Response(status=400, text="invalid_payload")
        problems = _response_problems(body)
        if problems:
            self.violations.extend(f"response_url: {p}" for p in problems)
            return web.Response(status=400, text="invalid_blocks")
        hook["uses"] += 1
        self.response_bodies.setdefault(hook_id, []).append(body)
        ch = self.channels.get(hook["channel"])
        if body.get("replace_original") and hook["ts"] and ch is not None:
            for ephemeral in ch.ephemerals:
                if ephemeral["ts"] == hook["ts"] and ephemeral["recipient"] == hook["user"]:
                    ephemeral["text"] = str(body.get("text") or "")
                    ephemeral["blocks"] = list(body.get("blocks") or [])
        return web.Response(text="ok")

    def _failure_response(self, failure: Failure) -> web.Response:
        if failure.error is not None:
            return web.json_response({"ok": False, "error": failure.error})
        status = failure.status or 429
        headers = {}
        if status in (429, 503) and failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after))
        error = "ratelimited" if status == 429 else "fatal_error"
        return web.json_response({"ok": False, "error": error}, status=status, headers=headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await request.read()
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            args = parse_slack_args(request.method, request.headers, body, request.query_string)
        except ContractViolation:
            args = dict(parse_qsl(request.query_string, keep_blank_values=True))
        self.calls.append((method, args))

        failure = self._take_failure(method)
        if failure is not None:
            response = await self._apply_failure(request, failure)
            if response is not None:
                return response

        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
            return web.json_response({"ok": False, "error": "not_authed"})
        bearer = auth[len("Bearer ") :].strip()
        if method == "apps.connections.open":
            # Slack's answers: a bot or user token is the wrong kind; an unknown app token is invalid.
            if not bearer.startswith("xapp-"):
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
            if self.app_token is None or bearer != self.app_token:
                return web.json_response({"ok": False, "error": "invalid_auth"})
        elif bearer != self.token:
            return web.json_response({"ok": False, "error": "invalid_auth"})

        try:
            if self.check_contract:
                validate_slack_request(method, request.method, request.headers, body, request.query_string)
        except ContractViolation as e:
            self.violations.append(e.reason)
            # Slack's answer to a malformed call (invalid_blocks & co. for Block Kit) is an
            # HTTP 200 ok:false with the details in response_metadata.messages.
            return web.json_response(
                {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": [f"[ERROR] {e.reason}"]},
                }
            )

        handler = self._methods.get(method)
        if handler is None:
            self.unhandled.append(method)
            return web.json_response(
                {
                    "ok": False,
                    "error": "unknown_method",
                    "response_metadata": {"messages": [f"[ERROR] FakeSlack does not implement {method}"]},
                }
            )
        try:
            result = handler(args)
        except SlackError as e:
            return web.json_response({"ok": False, "error": e.error, **e.extra})
        answer = {"ok": True, **result}
        try:
            if self.check_contract:
                validate_slack_response(method, request.method, 200, answer)
        except ContractViolation as e:
            self.response_violations.append(e.reason)
        if failure is not None and failure.answer_lost:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)
        # Slack lists the token's scopes on its answers (what `supportbridge check` compares).
        return web.json_response(answer, headers={"X-OAuth-Scopes": ",".join(sorted(self.scopes))})

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """The `upload_url` target of files.getUploadURLExternal (files.slack.com in production)."""
        file_id = request.match_info["file_id"]
        body = await request.read()
        self.calls.append(("upload", {"file_id": file_id, "length": len(body)}))
        pending = self.pending_uploads.get(file_id)
        if pending is None:
            return web.Response(status=404, text="unknown upload")
        if len(body) != pending["length"]:
            self.violations.append(f"upload {file_id}: {len(body)} bytes sent, {pending['length']} announced")
            return web.Response(status=400, text="length mismatch")
        pending["content"] = body
        return web.Response(text=f"OK - {len(body)}")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """A shared file's bytes (what `url_private` serves in production), for the sandbox page."""
        shared = self.files.get(request.match_info["file_id"])
        if shared is None:
            return web.Response(status=404)
        return web.Response(body=shared["content"], content_type=shared["mimetype"])

    # ------------------------------------------------------------------ lookups used by methods

    def _api_channel(self, args: dict[str, Any], key: str = "channel") -> Channel:
        value = args.get(key)
        if not value:
            raise SlackError("channel_not_found")
        value = str(value)
        if value[:1] in ("U", "W") and value in self.users:
            return self._im_with(value)  # posting to a user id goes to the DM with them
        try:
            return self._channel(value)
        except KeyError:
            raise SlackError("channel_not_found") from None

    def _im_with(self, user_id: str) -> Channel:
        for ch in self.channels.values():
            if ch.is_im and ch.im_user == user_id:
                return ch
        channel_id = self._next_id("D")
        ch = Channel(id=channel_id, name=channel_id, is_im=True, im_user=user_id, members={user_id})
        self.channels[channel_id] = ch
        return ch

    def _require_member(self, ch: Channel) -> None:
        if not ch.bot_member:
            raise SlackError("not_in_channel")

    def _find(self, ch: Channel, ts: Any) -> dict[str, Any]:
        for m in ch.messages:
            if m["ts"] == ts:
                return m
        raise SlackError("message_not_found")

    def _store_message(self, ch: Channel, message: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
        message = {**message, "ts": self.next_ts(), "channel": ch.id}
        if thread_ts:
            parent = next((m for m in ch.messages if m["ts"] == thread_ts), None)
            if parent is None:
                # Slack quietly accepts an unknown thread_ts; the fake is stricter, since it
                # is always a bug in a test or in the bot.
                raise SlackError("thread_not_found")
            root_ts = parent.get("thread_ts", parent["ts"])
            root = next(m for m in ch.messages if m["ts"] == root_ts)
            message["thread_ts"] = root_ts
            message["parent_user_id"] = root["user"]
            root["thread_ts"] = root_ts
            root["reply_count"] = root.get("reply_count", 0) + 1
            users = root.setdefault("reply_users", [])
            if message["user"] not in users:
                users.append(message["user"])
            root["reply_users_count"] = len(users)
            root["latest_reply"] = message["ts"]
        ch.messages.append(message)
        return message

    # ------------------------------------------------------------------ methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": self.team_name,
            "user": self.users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            raise SlackError("not_allowed_token_type")
        return {"url": self.socket_mode.new_url()}

    def _message_fields(self, args: dict[str, Any]) -> dict[str, Any]:
        fields = {k: args[k] for k in _MESSAGE_ARG_KEYS if k in args and args[k] is not None}
        for flag in ("unfurl_links", "unfurl_media", "reply_broadcast", "mrkdwn"):
            if flag in args:
                fields[flag] = _truthy(args[flag])
        return fields

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        if ch.is_archived:
            raise SlackError("is_archived")
        self._require_member(ch)
        fields = self._message_fields(args)
        if not fields.get("text") and not fields.get("blocks") and not fields.get("attachments"):
            raise SlackError("no_text")
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": fields.pop("text", ""),
            **fields,
        }
        stored = self._store_message(ch, message, args.get("thread_ts") or None)
        return {"channel": ch.id, "ts": stored["ts"], "message": _public(stored)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        message = self._find(ch, args.get("ts"))
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        fields = self._message_fields(args)
        if "text" not in fields and not fields.get("blocks") and not fields.get("attachments"):
            raise SlackError("no_text")
        # Omitted blocks/attachments are kept; an empty array removes them (Slack's rule).
        for key in ("blocks", "attachments"):
            if key in fields and fields[key] in ([], ""):
                message.pop(key, None)
                fields.pop(key)
        message.update(fields)
        message.setdefault("text", "")
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
        return {"channel": ch.id, "ts": message["ts"], "text": message["text"], "message": _public(message)}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        self._require_member(ch)
        user = str(args.get("user", ""))
        if user not in self.users or (ch.members and user not in ch.members):
            raise SlackError("user_not_in_channel")
        fields = self._message_fields(args)
        if not fields.get("text") and not fields.get("blocks") and not fields.get("attachments"):
            raise SlackError("no_text")
        ephemeral = {
            "type": "message",
            "subtype": "ephemeral",
            "ts": self.next_ts(),
            "channel": ch.id,
            "recipient": user,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "text": fields.pop("text", ""),
            **fields,
        }
        if args.get("thread_ts"):
            ephemeral["thread_ts"] = args["thread_ts"]
        ch.ephemerals.append(ephemeral)
        return {"message_ts": ephemeral["ts"]}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        message = self._find(ch, args.get("message_ts"))
        link = f"https://fake.slack.com/archives/{ch.id}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={ch.id}"
        return {"channel": ch.id, "permalink": link}

    def _page(
        self, items: list[dict[str, Any]], args: dict[str, Any], default_limit: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """latest/oldest/inclusive filtering plus limit/cursor pagination."""
        inclusive = _truthy(args.get("inclusive", False))
        if args.get("latest") not in (None, ""):
            latest = _ts_key(args["latest"])
            items = [
                m for m in items if _ts_key(m["ts"]) < latest or (inclusive and _ts_key(m["ts"]) == latest)
            ]
        if args.get("oldest") not in (None, ""):
            oldest = _ts_key(args["oldest"])
            items = [
                m for m in items if _ts_key(m["ts"]) > oldest or (inclusive and _ts_key(m["ts"]) == oldest)
            ]
        offset = 0
        if args.get("cursor"):
            try:
                offset = int(base64.b64decode(str(args["cursor"])).decode().removeprefix("offset:"))
            except ValueError:
                raise SlackError("invalid_cursor") from None
        limit = int(args.get("limit") or default_limit) or default_limit
        page = items[offset : offset + limit]
        has_more = offset + limit < len(items)
        extra: dict[str, Any] = {"has_more": has_more}
        if has_more:
            cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode()
            extra["response_metadata"] = {"next_cursor": cursor}
        return page, extra

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        self._require_member(ch)
        newest_first = [m for m in reversed(ch.messages) if _is_top_level(m)]
        page, extra = self._page(newest_first, args, default_limit=100)
        with_metadata = _truthy(args.get("include_all_metadata", False))
        return {
            "messages": [_public(m, metadata=with_metadata) for m in page],
            **extra,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        self._require_member(ch)
        message = next((m for m in ch.messages if m["ts"] == args.get("ts")), None)
        if message is None:
            raise SlackError("thread_not_found")
        root_ts = message.get("thread_ts", message["ts"])
        thread = [m for m in ch.messages if m["ts"] == root_ts or m.get("thread_ts") == root_ts]
        page, extra = self._page(thread, args, default_limit=1000)
        with_metadata = _truthy(args.get("include_all_metadata", False))
        return {"messages": [_public(m, metadata=with_metadata) for m in page], **extra}

    def _channel_object(self, ch: Channel) -> dict[str, Any]:
        if ch.is_im:
            return {
                "id": ch.id,
                "created": ch.created,
                "is_im": True,
                "is_org_shared": False,
                "user": ch.im_user,
                "is_archived": False,
            }
        return {
            "id": ch.id,
            "name": ch.name,
            "name_normalized": ch.name,
            "is_channel": not ch.is_private,
            "is_group": ch.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": ch.is_private,
            "is_archived": ch.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": ch.bot_member,
            "created": ch.created,
            "creator": self.bot_user_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        self._require_scope("groups:read" if ch.is_private else "channels:read")
        if ch.is_private and not ch.bot_member:
            raise SlackError("channel_not_found")  # private channels are invisible to outsiders
        return {"channel": self._channel_object(ch)}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        if ch.is_im or ch.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        if ch.is_archived:
            raise SlackError("is_archived")
        if ch.bot_member:
            return {
                "channel": self._channel_object(ch),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        ch.bot_member = True
        return {"channel": self._channel_object(ch)}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if len(users) != 1:
            raise SlackError("users_list_not_supplied" if not users else "not_implemented_in_fake")
        if users[0] not in self.users:
            raise SlackError("user_not_found")
        return {"channel": {"id": self._im_with(users[0]).id}}

    def add_usergroup(self, members: list[str]) -> str:
        """A user group (``<!subteam^S...>``) with these members; returns its id."""
        group_id = self._next_id("S")
        self.usergroups[group_id] = list(members)
        return group_id

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_scope("usergroups:read")
        with_disabled = _truthy(args.get("include_disabled", False))
        return {
            "usergroups": [
                self._usergroup_object(group_id)
                for group_id in self.usergroups
                if with_disabled or group_id not in self.disabled_usergroups
            ]
        }

    def _usergroup_object(self, group_id: str) -> dict[str, Any]:
        handle = f"group-{group_id[-4:].lower()}"
        deleted = self._start_ts + 60 if group_id in self.disabled_usergroups else 0
        return {
            "id": group_id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": handle.replace("-", " ").title(),
            "description": "",
            "handle": handle,
            "is_external": False,
            "date_create": self._start_ts,
            "date_update": self._start_ts,
            "date_delete": deleted,
            "auto_type": None,
            "auto_provision": False,
            "enterprise_subteam_id": "",
            "created_by": self.bot_user_id,
            "updated_by": self.bot_user_id,
            "deleted_by": self.bot_user_id if deleted else None,
            "prefs": {"channels": [], "groups": []},
            "user_count": len(self.usergroups[group_id]),
        }

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group)}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    # -- views

    def _new_view(
        self, payload: dict[str, Any], *, root: str | None = None, previous: str | None = None
    ) -> dict[str, Any]:
        view_id = self._next_id("V")
        view = self._render_view(view_id, payload, root_view_id=root or view_id, previous_view_id=previous)
        self._views[view_id] = view
        return view

    def _render_view(
        self, view_id: str, payload: dict[str, Any], *, root_view_id: str, previous_view_id: str | None
    ) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": payload.get("type"),
            "blocks": copy.deepcopy(payload.get("blocks", [])),
            "private_metadata": payload.get("private_metadata", ""),
            "callback_id": payload.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{next(self._ts_counter)}.{view_id}",
            "title": payload.get("title"),
            "close": payload.get("close"),
            "submit": payload.get("submit"),
            "clear_on_close": bool(payload.get("clear_on_close", False)),
            "notify_on_close": bool(payload.get("notify_on_close", False)),
            "external_id": payload.get("external_id", ""),
            "root_view_id": root_view_id,
            "previous_view_id": previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _use_trigger(self, args: dict[str, Any]) -> None:
        trigger = str(args.get("trigger_id", ""))
        if not trigger:
            raise SlackError("invalid_trigger_id")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")  # a trigger opens one view only
        self._used_triggers.add(trigger)

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        self._use_trigger(args)
        return {"view": self._new_view(args["view"])}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        self._use_trigger(args)
        return {"view": self._new_view(args["view"])}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] | None = None
        if args.get("view_id"):
            view = self._views.get(str(args["view_id"]))
        elif args.get("external_id"):
            view = next((v for v in self._views.values() if v["external_id"] == args["external_id"]), None)
        else:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": ["view_id or external_id required"]}
            )
        if view is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != view["hash"]:
            raise SlackError("hash_conflict")
        updated = self._render_view(
            view["id"],
            args["view"],
            root_view_id=view["root_view_id"],
            previous_view_id=view["previous_view_id"],
        )
        self._views[view["id"]] = updated
        return {"view": updated}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user_id", ""))
        if user not in self.users:
            raise SlackError("user_not_found")
        current = self.home_views.get(user)
        if args.get("hash") and current is not None and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        if current is None:
            view = self._new_view(args["view"])
        else:
            view = self._render_view(
                current["id"], args["view"], root_view_id=current["id"], previous_view_id=None
            )
            self._views[view["id"]] = view
        self.home_views[user] = view
        return {"view": view}

    # -- reactions

    def _require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))

    def _files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_scope("files:write")
        try:
            length = int(args["length"])
        except (KeyError, TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if length <= 0:
            raise SlackError("invalid_length")
        file_id = self._next_id("F")
        self.pending_uploads[file_id] = {
            "filename": str(args.get("filename") or ""),
            "length": length,
            "alt_txt": args.get("alt_txt"),
            "content": None,
        }
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        self._require_scope("files:write")
        files = args.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise SlackError("invalid_arguments") from None
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        ids = [str(f.get("id")) for f in files if isinstance(f, dict)]
        for file_id in ids:
            pending = self.pending_uploads.get(file_id)
            if pending is None or pending["content"] is None:
                raise SlackError("file_not_found")  # never asked for, or its bytes never arrived
        ch = self._api_channel(args, "channel_id") if args.get("channel_id") else None
        if ch is not None:
            self._require_member(ch)
        shared = []
        for item in files:
            pending = self.pending_uploads.pop(str(item["id"]))
            extension = pending["filename"].rsplit(".", 1)[-1].lower()
            record = {
                "id": str(item["id"]),
                "name": pending["filename"],
                "title": str(item.get("title") or pending["filename"]),
                "mimetype": _MIMETYPES.get(extension, "application/octet-stream"),
                "size": pending["length"],
                "alt_txt": pending["alt_txt"],
                "url_private": f"{self.base_url}/files/{item['id']}",
                "content": pending["content"],
            }
            self.files[record["id"]] = record
            shared.append(record)
        if ch is not None:
            message = {
                "type": "message",
                "user": self.bot_user_id,
                "bot_id": self.bot_id,
                "text": str(args.get("initial_comment") or ""),
                "upload": True,
                "files": [{k: v for k, v in f.items() if k != "content"} for f in shared],
            }
            thread_ts = args.get("thread_ts")
            stored = self._store_message(ch, message, str(thread_ts) if thread_ts else None)
            for f in shared:
                f["shares"] = {"channel": ch.id, "ts": stored["ts"]}
        return {"files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        message = self._find(ch, args.get("timestamp"))
        name = str(args.get("name", "")).strip(":")
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise SlackError("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = self._api_channel(args)
        message = self._find(ch, args.get("timestamp"))
        name = str(args.get("name", "")).strip(":")
        for reaction in message.get("reactions", []):
            if reaction["name"] == name and self.bot_user_id in reaction["users"]:
                reaction["users"].remove(self.bot_user_id)
                reaction["count"] -= 1
                if not reaction["count"]:
                    message["reactions"].remove(reaction)
                return {}
        raise SlackError("no_reaction")


BOT_SCOPES = (
    "chat:write",
    "chat:write.public",
    "channels:join",
    "channels:read",
    "channels:history",
    "groups:read",
    "groups:history",
    "im:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "reactions:read",
    "reactions:write",
    "commands",
    "files:write",
)

_MIMETYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}


def _is_top_level(message: dict[str, Any]) -> bool:
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or bool(message.get("reply_broadcast"))


def _public(message: dict[str, Any], *, metadata: bool = True) -> dict[str, Any]:
    """A stored message as the Web API shows it."""
    shown = {k: copy.deepcopy(v) for k, v in message.items() if k not in _INTERNAL_MESSAGE_KEYS}
    if not metadata:
        shown.pop("metadata", None)  # history/replies show it only with include_all_metadata
    if message.get("reply_broadcast") and message.get("thread_ts") != message["ts"]:
        shown["subtype"] = "thread_broadcast"
    for key in ("icon_emoji", "icon_url"):
        if key in shown:
            shown.setdefault("icons", {})["emoji" if key == "icon_emoji" else "image_64"] = shown.pop(key)
    return shown


def _short_args(args: dict[str, Any], limit: int = 160) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."
