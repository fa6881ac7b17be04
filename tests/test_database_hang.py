"""A database that hangs — connections open, nothing answered — as a frozen server or a network that
stopped forwarding looks: every request answers 503 within Slack's 3 s, /readyz says so, and when the
database answers again the delivery loop resumes by itself.

PostgreSQL behind a TCP proxy on loopback that can be told to stop forwarding (SQLite is a file in
the same process: it cannot hang this way).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from sandbox.fakes.slack_api import FakeSlack
from tests.harness import add_channels, make_issue_payload, running_app

SLACK_PATIENCE = 3.0


class FreezableProxy:
    """Forwards 127.0.0.1:<port> to a server; `freeze()` stops forwarding in both directions (the
    connections stay open, bytes wait), `thaw()` lets them through again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(ConnectionError, OSError):  # either side hung up: done
                while chunk := await source.read(65536):
                    await self.flowing.wait()
                    sink.write(chunk)
                    await sink.drain()
        finally:
            sink.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)


pytestmark = pytest.mark.postgres


@pytest.fixture
async def proxied_url(postgres_url: str) -> AsyncIterator[tuple[str, FreezableProxy]]:
    url = make_url(postgres_url)
    proxy = FreezableProxy(url.host or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    try:
        yield url.set(port=port).render_as_string(hide_password=False), proxy
    finally:
        proxy.thaw()
        await proxy.close()


async def timed(awaitable: object) -> tuple[float, object]:
    started = time.monotonic()
    result = await awaitable  # type: ignore[misc]
    return time.monotonic() - started, result


async def test_a_hung_database_is_503_within_slacks_patience_and_deliveries_resume(
    proxied_url: tuple[str, FreezableProxy], slack: FakeSlack
) -> None:
    url, proxy = proxied_url
    channels = add_channels(slack)
    async with running_app(url, slack, channels) as stack:
        first = await stack.webhook(make_issue_payload(external_id="before"))
        assert first.status == 202
        await stack.wait_for_cards(channels["default"], 1)

        proxy.freeze()
        seconds, hung = await timed(stack.webhook(make_issue_payload(external_id="during")))
        assert hung.status == 503 and hung.headers["Retry-After"]  # type: ignore[attr-defined]
        assert seconds < SLACK_PATIENCE
        seconds, ready = await timed(stack.http.get(stack.url("/readyz")))
        assert ready.status == 503 and seconds < SLACK_PATIENCE  # type: ignore[attr-defined]
        assert (await ready.json())["checks"]["database"] == "unavailable"  # type: ignore[attr-defined]
        assert (await stack.http.get(stack.url("/healthz"))).status == 200  # the process itself is fine
        await asyncio.sleep(6)  # the delivery loop meets the hang too, and must not die of it
        assert stack.runtime.deliverer.alive

        proxy.thaw()
        deadline = time.monotonic() + 20
        while True:  # connections broken by the hang are replaced; the sender's retry then lands
            again = await stack.webhook(make_issue_payload(external_id="during"))
            if again.status in (200, 202) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert again.status in (200, 202)
        await stack.wait_for_cards(channels["default"], 2, timeout=30)
        assert (await stack.http.get(stack.url("/readyz"))).status == 200
    slack.assert_no_violations()
