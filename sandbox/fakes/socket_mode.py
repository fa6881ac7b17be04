"""A fake Slack Socket Mode server on loopback, following Slack's documented protocol.

https://api.slack.com/apis/socket-mode (summarised in ../shared/contracts/README.md, "Socket Mode"):
`apps.connections.open` (served by `FakeSlack` with the app-level token, see `attach`) hands out a
single-use `ws://` URL; on connecting the app gets `hello`; envelopes (`events_api`, `slash_commands`,
`interactive`) carry `envelope_id`, `accepts_response_payload`, `retry_attempt` and `retry_reason`; the
app acks each with `{"envelope_id"}` (and `payload` only where a response payload is accepted). A test
can send `disconnect`, drop the socket, or make a connection go silent (no deliveries, no pongs), the
way idle connections are known to die.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.fakes.slack_api import FakeServer


@dataclass
class FakeSocket:
    ws: web.WebSocketResponse
    number: int
    silent: bool = False
    closed: bool = False
    pings: int = 0


@dataclass
class Envelope:
    envelope_id: str
    type: str
    accepts_response_payload: bool
    acks: list[dict[str, Any]] = field(default_factory=list)


class FakeSocketMode(FakeServer):
    """Stateful fake of Slack's Socket Mode WebSocket endpoint."""

    def __init__(self) -> None:
        super().__init__()
        self._tickets: set[str] = set()
        self.sockets: list[FakeSocket] = []
        self.envelopes: dict[str, Envelope] = {}
        self.refused_tickets: list[str] = []  # a URL used twice, or one never handed out

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        return app

    async def _load_contract(self) -> None:
        """Socket Mode has no machine-readable contract; the protocol is checked here, message by message."""

    def _failure_response(self, failure: Any) -> web.Response:
        # Failures are injected at the protocol level here (disconnect, drop, go_silent), not per request.
        return web.Response(status=failure.status or 503)

    def new_url(self) -> str:
        """What apps.connections.open answers: a URL good for one connection."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"{self.base_url.replace('http://', 'ws://')}/link/?ticket={ticket}"

    # -- the WebSocket

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            self.refused_tickets.append(ticket)
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets.discard(ticket)
        # Pings are answered by hand, so that a silent connection can stop answering them.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        socket = FakeSocket(ws=ws, number=len(self.sockets) + 1)
        self.sockets.append(socket)
        open_sockets = sum(1 for s in self.sockets if not s.closed)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": open_sockets,
                "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0FAKE"},
            }
        )
        try:
            async for message in ws:
                if message.type == WSMsgType.PING:
                    socket.pings += 1
                    if not socket.silent:
                        await ws.pong(message.data)
                elif message.type == WSMsgType.TEXT and not socket.silent:
                    self._record_ack(message.data)
        finally:
            socket.closed = True
        return ws

    def _record_ack(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            self.violations.append(f"an ack that is not JSON: {text[:80]!r}")
            return
        envelope = self.envelopes.get(str(ack.get("envelope_id")))
        if envelope is None:
            self.violations.append(f"an ack for an envelope never sent: {ack.get('envelope_id')!r}")
            return
        if "payload" in ack and not envelope.accepts_response_payload:
            self.violations.append(f"a response payload for a {envelope.type} envelope that accepts none")
        unknown = set(ack) - {"envelope_id", "payload"}
        if unknown:
            self.violations.append(f"unknown fields in an ack: {sorted(unknown)}")
        envelope.acks.append(ack)

    # -- what a test does

    def current(self) -> FakeSocket:
        live = [s for s in self.sockets if not s.closed and not s.silent]
        if not live:
            raise AssertionError("no open Socket Mode connection")
        return live[-1]

    async def wait_connected(self, count: int = 1, timeout: float = 10.0) -> FakeSocket:
        """Wait for the `count`-th connection of the test to be open (and not silent)."""
        await self.wait_for(
            lambda: len(self.sockets) >= count and not self.sockets[count - 1].closed,
            timeout,
            message=f"Socket Mode connection #{count}",
        )
        return self.sockets[count - 1]

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        envelope_id: str | None = None,
    ) -> str:
        """Send an envelope over the newest live connection; return its envelope id."""
        if accepts_response_payload is None:
            # Slack accepts a response payload for slash commands and for view submissions.
            accepts_response_payload = kind == "slash_commands" or payload.get("type") == "view_submission"
        envelope_id = envelope_id or str(uuid.uuid4())
        self.envelopes[envelope_id] = Envelope(envelope_id, kind, accepts_response_payload)
        await self.current().ws.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason,
            }
        )
        return envelope_id

    async def ack_of(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        envelope = self.envelopes[envelope_id]
        await self.wait_for(lambda: envelope.acks, timeout, message=f"the ack of envelope {envelope_id}")
        return envelope.acks[0]

    async def disconnect(self, reason: str) -> None:
        await self.current().ws.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-socket-mode"}}
        )

    async def drop(self) -> None:
        """Cut the newest connection without a close handshake, as a network failure would."""
        socket = self.current()
        transport = socket.ws._req.transport if socket.ws._req is not None else None
        if transport is not None:
            transport.abort()
        socket.closed = True

    def go_silent(self) -> FakeSocket:
        """The newest connection stays open but delivers nothing and answers no ping."""
        socket = self.current()
        socket.silent = True
        return socket

    async def close(self) -> None:
        for socket in self.sockets:
            if not socket.closed:
                await socket.ws.close()
        await super().close()


def attach(slack: Any, socket_mode: FakeSocketMode, app_token: str) -> None:
    """Let `slack` (a FakeSlack) answer apps.connections.open for `app_token` with `socket_mode`'s URLs."""
    slack.app_token = app_token
    slack.socket_mode = socket_mode
