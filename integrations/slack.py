"""Our interface to Slack's Web API: the calls the bot makes, with our error types.

slack_sdk's retry handlers deal with single 429s (waiting for Retry-After), 5xx answers and
dropped connections inside one call. What still fails after them is raised as one of our typed errors:
`SlackTransientError` (alias `Transient`; `RateLimited` carries Retry-After) is worth retrying, and a
`SlackCallError` subclass says what Slack's `ok: false` code means (`ChannelGone`, `NotInChannel`,
`MissingScope`, `UserUnreachable`, `MessageGone`, `InvalidRequest`, `AuthFailed`). `retryable` tells
whether the same call can succeed later; `bot.deliveries.policy` applies that one rule everywhere.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import metrics
from integrations.slack_pacing import SlackPacer, Throttled

log = logging.getLogger(__name__)


class SlackError(Exception):
    """Any failure talking to Slack."""

    # Whether the same call can succeed later without anyone changing anything.
    retryable: bool = True
    # Whether the call may have been carried out all the same (its answer is what failed).
    outcome_unknown: bool = False


class SlackTransientError(SlackError):
    """Worth retrying later: a server error or network trouble (`Transient`). The call may have been
    carried out before the failure (Slack documents as much of `fatal_error`; a timeout or a dropped
    connection says nothing either way)."""

    outcome_unknown = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(SlackTransientError):
    """HTTP 429 (or `ratelimited`): Slack says when to come back. Nothing was carried out."""

    outcome_unknown = False


class Paced(RateLimited):
    """Not sent at all: its channel (or method) is rate limited or its turn is not yet
    (`integrations.slack_pacing`). Not a failed attempt: the call was never made."""


class ResponseUrlGone(SlackError):
    """A click's response URL that cannot be used (expired, used five times, not Slack's)."""


class SlackCallError(SlackError):
    """Slack answered `ok: false` with an error code; the subclasses say what it means for us."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class NotInChannel(SlackCallError):
    """The bot is not a member: a public channel can be joined (`channels:join`), a private one needs an
    invitation."""


class ChannelGone(SlackCallError):
    """The channel does not exist (any more) or is archived: retrying cannot help."""

    retryable = False


class MessageGone(SlackCallError):
    """The message or thread to update or read is gone."""

    retryable = False


class UserUnreachable(SlackCallError):
    """The person cannot be sent to: deactivated, a bot, or messages with the app turned off."""

    retryable = False


class MissingScope(SlackCallError):
    """The app lacks a scope (or the token type is wrong): only reinstalling the app helps."""

    retryable = False


class InvalidRequest(SlackCallError):
    """Slack refused what we sent as malformed (blocks, arguments, length): the same call fails again."""

    retryable = False


class AuthFailed(SlackCallError):
    """The token is invalid, revoked or the workspace inactive: nothing works until an operator acts.
    Retried (with backoff), since fixing the token makes the same call succeed."""


Transient = SlackTransientError

# Slack error codes and what they mean for a delivery (https://api.slack.com/methods: each method's
# "Errors" table). A code not listed is an unknown refusal: retried with backoff, never dropped.
_TRANSIENT_CODES = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
_CALL_ERRORS: dict[str, type[SlackCallError]] = {
    "not_in_channel": NotInChannel,
    "channel_not_found": ChannelGone,
    "is_archived": ChannelGone,
    "method_not_supported_for_channel_type": NotInChannel,  # joining a private channel: invite the app
    "message_not_found": MessageGone,
    "thread_not_found": MessageGone,
    "cant_update_message": MessageGone,
    "edit_window_closed": MessageGone,
    "user_not_found": UserUnreachable,
    "user_disabled": UserUnreachable,
    "user_not_in_channel": UserUnreachable,
    "cannot_dm_bot": UserUnreachable,
    "messages_tab_disabled": UserUnreachable,
    "not_enabled": UserUnreachable,
    "missing_scope": MissingScope,
    "not_allowed_token_type": MissingScope,
    "no_permission": MissingScope,
    "restricted_action": MissingScope,
    "invalid_blocks": InvalidRequest,
    "invalid_blocks_format": InvalidRequest,
    "invalid_arguments": InvalidRequest,
    "invalid_arg_name": InvalidRequest,
    "msg_too_long": InvalidRequest,
    "no_text": InvalidRequest,
    "too_many_attachments": InvalidRequest,
    "invalid_trigger": InvalidRequest,
    "expired_trigger_id": InvalidRequest,
    "exchanged_trigger_id": InvalidRequest,
    "view_too_large": InvalidRequest,
    "invalid_auth": AuthFailed,
    "not_authed": AuthFailed,
    "token_revoked": AuthFailed,
    "token_expired": AuthFailed,
    "account_inactive": AuthFailed,
    "team_access_not_granted": AuthFailed,
}


def slack_error(code: str) -> SlackError:
    """The typed error for an `ok: false` answer's code."""
    if code == "ratelimited":
        return RateLimited(code)
    if code in _TRANSIENT_CODES:
        return SlackTransientError(code)
    return _CALL_ERRORS.get(code, SlackCallError)(code)


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    ts: str


MARK_SEARCH_PAGES = 5
MARK_SEARCH_PAGE_SIZE = 200


@dataclass(frozen=True)
class MessageMark:
    """What a message is, stored with it as Slack message metadata (`event_type` and a small payload):
    e.g. `supportbridge_card` with `{"issue_id": 42}`."""

    event_type: str
    key: tuple[tuple[str, str | int], ...]

    def metadata(self) -> dict[str, Any]:
        return {"event_type": self.event_type, "event_payload": dict(self.key)}

    def matches(self, metadata: Any) -> bool:
        if not isinstance(metadata, dict) or metadata.get("event_type") != self.event_type:
            return False
        payload = metadata.get("event_payload")
        return isinstance(payload, dict) and all(payload.get(k) == v for k, v in self.key)


def build_web_client(token: str, base_url: str, *, max_retries: int = 2) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
            # One in-call wait for Retry-After; a longer rate limit goes back to the outbox.
            AsyncRateLimitErrorRetryHandler(max_retry_count=1),
            AsyncServerErrorRetryHandler(max_retry_count=max_retries),
        ],
    )


def _seconds(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def _translate(exc: Exception) -> SlackError:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            return RateLimited("ratelimited", _seconds(retry_after))
        if status >= 500:
            return SlackTransientError(f"HTTP {status}")
        code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        return slack_error(str(code)) if code else SlackCallError(f"HTTP {status}")
    return SlackTransientError(type(exc).__name__)


def _outcome_of(error: SlackError) -> str:
    """A bounded label: ratelimited, transient, or our error class (never Slack's free error code)."""
    if isinstance(error, RateLimited):
        return "ratelimited"
    if isinstance(error, SlackTransientError):
        return "transient"
    return type(error).__name__


class SlackGateway:
    """The Slack calls Supportbridge makes."""

    def __init__(self, client: AsyncWebClient, pacer: SlackPacer | None = None) -> None:
        self.client = client
        self.pacer = pacer or SlackPacer()
        # Posting is not idempotent: a connection dropped after Slack took the message, retried in the
        # client, would post it twice. Posts are retried by the outbox instead, which first looks for
        # the message (`find_marked`); a 429 blocks the channel in the pacer and goes back to the
        # outbox too, so a long Retry-After holds neither this call nor posts to other channels.
        self.posting = AsyncWebClient(
            token=client.token, base_url=client.base_url, timeout=client.timeout, retry_handlers=[]
        )

    async def open(self) -> None:
        """Share one HTTP connection pool across calls (slack_sdk opens a new session per call
        otherwise: a TCP and TLS handshake for every post). Call inside the running loop."""
        if self.client.session is None or self.client.session.closed:
            self.client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.client.timeout)
            )
        self.posting.session = self.client.session

    async def close(self) -> None:
        if self.client.session is not None and not self.client.session.closed:
            await self.client.session.close()

    async def _call(
        self, method: str, *, client: AsyncWebClient | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._paced(method, kwargs.get("channel"), client or self.client, json=kwargs)

    async def _form(self, method: str, **params: Any) -> dict[str, Any]:
        return await self._paced(method, params.get("channel"), self.client, params=params)

    async def _paced(
        self, method: str, channel: Any, client: AsyncWebClient, **request: Any
    ) -> dict[str, Any]:
        response = await self._paced_response(method, channel, client, **request)
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _paced_response(
        self, method: str, channel: Any, client: AsyncWebClient, **request: Any
    ) -> AsyncSlackResponse:
        channel = channel if isinstance(channel, str) else None
        try:
            await self.pacer.acquire(method, channel)
        except Throttled as exc:
            metrics.SLACK_CALLS.labels(method=method, outcome="paced").inc()
            raise Paced("paced", exc.retry_after) from exc
        started = time.perf_counter()
        try:
            response = await client.api_call(method, **request)
        except (SlackApiError, SlackClientError, ClientError, TimeoutError, OSError) as exc:
            error = _translate(exc)
            metrics.SLACK_CALL_SECONDS.labels(method=method).observe(time.perf_counter() - started)
            metrics.SLACK_CALLS.labels(method=method, outcome=_outcome_of(error)).inc()
            if isinstance(error, RateLimited):
                metrics.SLACK_RETRY_AFTER.labels(method=method).observe(error.retry_after or 0.0)
                self.pacer.rate_limited(method, channel, error.retry_after)
            raise error from exc
        took = time.perf_counter() - started
        metrics.SLACK_CALL_SECONDS.labels(method=method).observe(took)
        metrics.observe_stage("slack", took)
        metrics.SLACK_CALLS.labels(method=method, outcome="ok").inc()
        return response

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        mark: MessageMark | None = None,
    ) -> PostedMessage:
        """Post a message. A `mark` is stored with it as Slack message metadata, so that the message
        can be found again (`find_marked`) when it is not known whether an earlier post went through."""
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            # Customer content must never unfurl: a link in a complaint is not an invitation to fetch it.
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        if mark is not None:
            args["metadata"] = mark.metadata()
        data = await self._call("chat.postMessage", client=self.posting, **args)
        return PostedMessage(channel=data["channel"], ts=data["ts"])

    async def find_marked(
        self, channel: str, mark: MessageMark, *, thread_ts: str | None = None
    ) -> PostedMessage | None:
        """The message posted with `mark` in `channel` (or in the thread `thread_ts`), if any: the
        channel's history newest first (a thread's replies), up to `MARK_SEARCH_PAGES` pages — the
        message looked for is recent, the outcome of an attempt whose answer was lost."""
        cursor: str | None = None
        for _ in range(MARK_SEARCH_PAGES):
            params: dict[str, Any] = {
                "channel": channel,
                "include_all_metadata": "true",
                "limit": MARK_SEARCH_PAGE_SIZE,
            }
            if thread_ts:
                params["ts"] = thread_ts
            if cursor:
                params["cursor"] = cursor
            method = "conversations.replies" if thread_ts else "conversations.history"
            data = await self._form(method, **params)
            for message in data.get("messages", []):
                if mark.matches(message.get("metadata")):
                    return PostedMessage(channel=channel, ts=str(message["ts"]))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        log.warning("marked message search gave up", extra={"channel": channel, "pages": MARK_SEARCH_PAGES})
        return None

    async def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def post_ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            args["blocks"] = blocks
        await self._call("chat.postEphemeral", **args)

    async def dm_channel(self, user: str) -> str:
        """The id of the app's direct-message channel with `user` (opened if need be)."""
        data = await self._form("conversations.open", users=user)
        return str(data["channel"]["id"])

    async def join_channel(self, channel: str) -> None:
        await self._form("conversations.join", channel=channel)

    async def permalink(self, channel: str, ts: str) -> str | None:
        data = await self._form("chat.getPermalink", channel=channel, message_ts=ts)
        link = data.get("permalink")
        return str(link) if link else None

    async def fetch_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by channel and ts, whether top-level or a thread reply."""
        data = await self._form(
            "conversations.history", channel=channel, latest=ts, oldest=ts, inclusive="true", limit=1
        )
        for message in data.get("messages", []):
            if message.get("ts") == ts:
                return dict(message)
        # Not in the channel's history: a reply inside a thread.
        data = await self._form(
            "conversations.replies", channel=channel, ts=ts, latest=ts, oldest=ts, inclusive="true"
        )
        for message in data.get("messages", []):
            if message.get("ts") == ts:
                return dict(message)
        return None

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._call("views.open", trigger_id=trigger_id, view=view)

    async def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> None:
        """Replace an open modal; with its `hash`, Slack refuses (`hash_conflict`) if it changed since."""
        args: dict[str, Any] = {"view_id": view_id, "view": view}
        if view_hash:
            args["hash"] = view_hash
        await self._call("views.update", **args)

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", user_id=user, view=view)

    async def upload_file(
        self, *, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str, alt_text: str
    ) -> str:
        """Share a file in a channel or a thread with slack_sdk's `files_upload_v2` (an upload URL, the
        bytes, then completion); needs the files:write scope. Returns the file id."""
        try:
            response = await self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                filename=filename,
                content=content,
                title=title,
                alt_txt=alt_text,
            )
        except (SlackApiError, SlackClientError, ClientError, TimeoutError, OSError) as exc:
            raise _translate(exc) from exc
        file = response.get("file") or {}
        return str(file.get("id", "")) if isinstance(file, dict) else ""

    def response_url_allowed(self, url: str) -> bool:
        """Whether a click's `response_url` is one to answer: Slack's hooks host when the bot talks to
        Slack itself, else (a fake, in the sandbox and the tests) only the host of `SLACK_API_URL`, so
        neither a forged address nor a test ever reaches the internet."""
        base = urlsplit(str(self.client.base_url))
        if base.netloc == "slack.com":
            allowed = "https://hooks.slack.com/"
        else:
            allowed = f"{base.scheme}://{base.netloc}/"
        return len(url) <= 2000 and url.startswith(allowed) and "@" not in urlsplit(url).netloc

    async def replace_original(self, response_url: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Rewrite the message a click came from through its `response_url` (the one way to edit an
        ephemeral message; valid five times in 30 minutes). Raises `ResponseUrlGone` when Slack no
        longer takes it and `SlackTransientError` for a failure worth retrying."""
        if not self.response_url_allowed(response_url):
            raise ResponseUrlGone("not a Slack response URL")
        webhook = AsyncWebhookClient(
            response_url, timeout=int(self.client.timeout), session=self.client.session, retry_handlers=[]
        )
        started = time.perf_counter()
        try:
            response = await webhook.send(text=text, blocks=blocks, replace_original=True)
        except (SlackClientError, ClientError, TimeoutError, OSError) as exc:
            metrics.SLACK_CALLS.labels(method="response_url", outcome="transient").inc()
            raise SlackTransientError(type(exc).__name__) from exc
        finally:
            metrics.SLACK_CALL_SECONDS.labels(method="response_url").observe(time.perf_counter() - started)
        if response.status_code == 429 or response.status_code >= 500:
            metrics.SLACK_CALLS.labels(method="response_url", outcome="transient").inc()
            raise SlackTransientError(f"response_url answered HTTP {response.status_code}")
        if response.status_code != 200:
            metrics.SLACK_CALLS.labels(method="response_url", outcome="gone").inc()
            raise ResponseUrlGone(f"HTTP {response.status_code} {response.body[:40]}")
        metrics.SLACK_CALLS.labels(method="response_url", outcome="ok").inc()

    async def usergroup_members(self, group: str) -> list[str]:
        """The members of a user group (needs the usergroups:read scope)."""
        data = await self._form("usergroups.users.list", usergroup=group)
        return [str(user) for user in data.get("users", [])]

    async def auth_test(self) -> dict[str, Any]:
        return await self._form("auth.test")

    async def granted_scopes(self) -> tuple[dict[str, Any], frozenset[str] | None]:
        """`auth.test`, with the scopes the token was granted: Slack lists them in the
        `x-oauth-scopes` header of its answers (None when the header is absent)."""
        response = await self._paced_response("auth.test", None, self.client, params={})
        data = dict(response.data) if isinstance(response.data, dict) else {}
        header = response.headers.get("x-oauth-scopes") if response.headers else None
        if header is None:
            return data, None
        return data, frozenset(scope.strip() for scope in str(header).split(",") if scope.strip())

    async def channel_info(self, channel: str) -> dict[str, Any]:
        """`conversations.info` (channels:read, groups:read): the channel object, with `is_member`.
        A channel that does not exist, or a private one the bot is not in, raises `ChannelGone`."""
        data = await self._form("conversations.info", channel=channel)
        info = data.get("channel")
        return dict(info) if isinstance(info, dict) else {}

    async def usergroups(self) -> list[dict[str, Any]]:
        """Every user group of the workspace, disabled ones included (usergroups:read)."""
        data = await self._form("usergroups.list", include_disabled="true")
        return [dict(group) for group in data.get("usergroups", []) if isinstance(group, dict)]

    async def user_info(self, user: str) -> dict[str, Any]:
        """`users.info` (users:read): the user object, with `deleted` for a deactivated account. An
        unknown id raises `UserUnreachable`."""
        data = await self._form("users.info", user=user)
        info = data.get("user")
        return dict(info) if isinstance(info, dict) else {}
