"""Our interface to Slack's Web API: the calls the bot makes, with our error types.

slack_sdk's retry handlers deal with single 429s (waiting for Retry-After), 5xx answers and
dropped connections inside one call; what still fails after them reaches the outbox as a
`SlackTransientError` (retry later) or `SlackCallError` (Slack said no: `ok: false`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class SlackError(Exception):
    """Any failure talking to Slack."""


class SlackTransientError(SlackError):
    """Worth retrying later: rate limited, server error, network trouble."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlackCallError(SlackError):
    """Slack answered `ok: false` with an error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    ts: str


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


def _translate(exc: Exception) -> SlackError:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            return SlackTransientError("ratelimited", float(retry_after) if retry_after else None)
        if status >= 500:
            return SlackTransientError(f"HTTP {status}")
        code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if code in {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}:
            return SlackTransientError(str(code))
        return SlackCallError(str(code or f"HTTP {status}"))
    return SlackTransientError(type(exc).__name__)


class SlackGateway:
    """The Slack calls Supportbridge makes."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def open(self) -> None:
        """Share one HTTP connection pool across calls (slack_sdk opens a new session per call
        otherwise: a TCP and TLS handshake for every post). Call inside the running loop."""
        if self.client.session is None or self.client.session.closed:
            self.client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.client.timeout)
            )

    async def close(self) -> None:
        if self.client.session is not None and not self.client.session.closed:
            await self.client.session.close()

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.api_call(method, json=kwargs)
        except (SlackApiError, SlackClientError, ClientError, TimeoutError, OSError) as exc:
            raise _translate(exc) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _form(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            response = await self.client.api_call(method, params=params)
        except (SlackApiError, SlackClientError, ClientError, TimeoutError, OSError) as exc:
            raise _translate(exc) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def post_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]], *, thread_ts: str | None = None
    ) -> PostedMessage:
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
        data = await self._call("chat.postMessage", **args)
        return PostedMessage(channel=data["channel"], ts=data["ts"])

    async def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def post_ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            args["blocks"] = blocks
        await self._call("chat.postEphemeral", **args)

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

    async def usergroup_members(self, group: str) -> list[str]:
        """The members of a user group (needs the usergroups:read scope)."""
        data = await self._form("usergroups.users.list", usergroup=group)
        return [str(user) for user in data.get("users", [])]

    async def auth_test(self) -> dict[str, Any]:
        return await self._form("auth.test")
