"""Slack over Socket Mode: the same Bolt app, fed by an outbound WebSocket instead of POST /slack/events.

Bolt's own aiohttp adapter (`AsyncSocketModeHandler`) and slack_sdk's aiohttp `SocketModeClient` do the
protocol: they ack each envelope (with the listener's response payload where Slack accepts one), ping
every `ping_interval` seconds and open a new connection when the socket closes, when pongs stop coming
back for four intervals (a silent socket: idle connections are known to stop delivering), or when Slack
sends `disconnect`. What is added here:

- start-up opens the first URL itself, so a wrong app token stops the start with a clear message
  instead of slack_sdk's endless "Failed to connect; Retrying..." loop;
- `disconnect` reasons are logged in words (slack_sdk reconnects without passing them to listeners);
- later `apps.connections.open` failures back off exponentially instead of hammering at a fixed pace;
- an envelope no listener takes is acked, as `/slack/events` answers 200, so Slack does not resend it;
- `supportbridge_socket_mode_connections` follows the open connection and
  `supportbridge_socket_mode_reconnects` counts every connection after the first.

Slack's re-sends and envelopes spread over several processes' connections are deduplicated where
HTTP events are: the reaction listener claims `slack:event:<event_id>` in the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import ClientWebSocketResponse
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import SOCKET_MODE_CONNECTIONS, SOCKET_MODE_RECONNECTS
from bot.settings import SettingsError

log = logging.getLogger(__name__)

# https://api.slack.com/apis/socket-mode#disconnect
DISCONNECT_REASONS = {
    "refresh_requested": "Slack asked for a fresh connection (it refreshes them every few hours): "
    "reconnecting",
    "warning": "Slack warned that this connection will be closed soon: reconnecting",
    "link_disabled": (
        "Socket Mode was turned off in the app's configuration (api.slack.com/apps → Socket Mode): "
        "Slack delivers nothing over it until it is turned on again"
    ),
}
# What apps.connections.open answers for a token that can never open a connection.
REFUSED_TOKEN_ERRORS = {
    "invalid_auth": "SLACK_APP_TOKEN is not valid (invalid_auth): copy the app-level token again",
    "not_authed": "SLACK_APP_TOKEN was not accepted (not_authed)",
    "not_allowed_token_type": (
        "SLACK_APP_TOKEN is not an app-level token with the connections:write scope "
        "(not_allowed_token_type): create one under Basic Information → App-Level Tokens"
    ),
    "token_revoked": "SLACK_APP_TOKEN has been revoked (token_revoked)",
    "account_inactive": "SLACK_APP_TOKEN belongs to an app that was deleted or disabled (account_inactive)",
}
MAX_BACKOFF_SECONDS = 60.0


class SocketModeRefused(SettingsError):
    """Slack refused the app-level token at start-up; the message says what to fix."""


class LoggedSocketModeClient(SocketModeClient):
    """slack_sdk's client, saying why Slack closed a connection and backing off when it cannot open one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failed_opens = 0
        self.sessions_opened = 0
        # The session the connections gauge counts, so that each is counted up once and down once
        # however many of slack_sdk's paths (replacement, a dropped socket, close) notice its end.
        self._counted_session: ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        before = self.current_session
        await super().connect()  # closes `before` first; returns without a new one only when closed
        session = self.current_session
        if session is None or session is before:
            return
        self._count_closed()
        self._counted_session = session
        SOCKET_MODE_CONNECTIONS.inc()
        self.sessions_opened += 1
        if self.sessions_opened > 1:
            SOCKET_MODE_RECONNECTS.inc()

    async def is_connected(self) -> bool:
        # slack_sdk asks this before opening a new connection for a socket it found closed (dropped by
        # the network): the gauge falls then, not only once a new connection could be opened.
        connected = await super().is_connected()
        if self._counted_session is not None and self._counted_session.closed:
            self._count_closed()
        return connected

    async def disconnect(self) -> None:
        await super().disconnect()
        self._count_closed()

    def _count_closed(self) -> None:
        if self._counted_session is not None:
            self._counted_session = None
            SOCKET_MODE_CONNECTIONS.dec()

    async def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        kind = message.get("type")
        if kind == "hello":
            log.info(
                "socket mode connection ready", extra={"num_connections": message.get("num_connections")}
            )
        elif kind == "disconnect":
            reason = str(message.get("reason"))
            explanation = DISCONNECT_REASONS.get(reason, "Slack closed the connection: reconnecting")
            level = logging.ERROR if reason == "link_disabled" else logging.INFO
            log.log(level, f"socket mode disconnect: {explanation}", extra={"reason": reason})
        await super().run_message_listeners(message, raw_message)

    async def issue_new_wss_url(self) -> str:
        if self.failed_opens:
            delay = min(MAX_BACKOFF_SECONDS, self.ping_interval * 2 ** (self.failed_opens - 1))
            log.warning(
                "opening a socket mode connection failed; trying again",
                extra={"attempt": self.failed_opens + 1, "delay_seconds": delay},
            )
            await asyncio.sleep(delay)
        try:
            url = await super().issue_new_wss_url()
        except Exception:
            self.failed_opens += 1
            raise
        self.failed_opens = 0
        return url


class SupportbridgeSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's adapter with `LoggedSocketModeClient`, acking envelopes that no listener takes."""

    def __init__(
        self, app: AsyncApp, app_token: str, web_client: AsyncWebClient, ping_interval: float
    ) -> None:
        # Not the adapter's __init__: it would build a plain SocketModeClient (and an aiohttp session
        # left open) only for it to be replaced. These are the three attributes it sets.
        self.app = app
        self.app_token = app_token
        self.client = LoggedSocketModeClient(
            app_token=app_token, logger=app.logger, web_client=web_client, ping_interval=ping_interval
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time.time()
        if req.retry_attempt:
            log.info(
                "socket mode envelope re-sent by Slack",
                extra={
                    "envelope_type": req.type,
                    "retry_attempt": req.retry_attempt,
                    "retry_reason": req.retry_reason,
                },
            )
        bolt_response = await run_async_bolt_app(self.app, req)
        if bolt_response.status == 404:
            # As over HTTP: an unhandled event is acknowledged, or Slack would send it again.
            log.debug("unhandled Slack envelope acknowledged")
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await send_async_response(client, req, bolt_response, start)


class SocketModeConnection:
    """The app's Socket Mode link for the life of the process."""

    def __init__(
        self, bolt: AsyncApp, app_token: str, web_client: AsyncWebClient, ping_interval: float
    ) -> None:
        self.handler = SupportbridgeSocketModeHandler(bolt, app_token, web_client, ping_interval)

    @property
    def client(self) -> LoggedSocketModeClient:
        client = self.handler.client
        assert isinstance(client, LoggedSocketModeClient)
        return client

    async def start(self) -> None:
        """Open the first connection; a refused token raises `SocketModeRefused`. Any other failure
        (Slack unreachable) is logged and left to the client's own retries, in the background."""
        client = self.client
        try:
            client.wss_uri = await client.issue_new_wss_url()
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in REFUSED_TOKEN_ERRORS:
                raise SocketModeRefused(REFUSED_TOKEN_ERRORS[error]) from None
            log.warning("could not open a socket mode connection yet; retrying", extra={"error": error})
            self._background = asyncio.ensure_future(client.connect_to_new_endpoint(force=True))
            return
        except OSError as exc:
            log.warning("Slack is unreachable; retrying socket mode", extra={"error": type(exc).__name__})
            self._background = asyncio.ensure_future(client.connect_to_new_endpoint(force=True))
            return
        await client.connect()
        log.info("socket mode connected")

    async def stop(self) -> None:
        await self.handler.close_async()
