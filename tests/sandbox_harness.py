"""A running sandbox for tests: the real bot, its fake Slack and Jira, and the page's API on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.app import RUNTIME
from bot.runtime import Runtime
from bot.settings import Settings
from sandbox.stack import Sandbox, sandbox_config
from sandbox.workspace import YOU


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    server: TestServer
    http: ClientSession

    @property
    def runtime(self) -> Runtime:
        return self.server.app[RUNTIME]

    @property
    def url(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    async def api(self, path: str, body: dict[str, Any] | None = None, *, status: int = 200) -> Any:
        """POST to the page's API (GET without a body), as the page does; checks the HTTP status."""
        headers = {"X-Sandbox-Token": self.sandbox.page_token}
        if body is None:
            response = await self.http.get(self.url + path, headers=headers)
        else:
            response = await self.http.post(self.url + path, json=body, headers=headers)
        assert response.status == status, await response.text()
        return await response.json()

    async def state(self, user: str = YOU.user_id, channel: str | None = None) -> dict[str, Any]:
        query = f"?as={user}" + (f"&channel={channel}" if channel else "")
        return dict(await self.api("/sandbox/api/state" + query))

    async def wait_for(self, predicate: Callable[[], Any], message: str, timeout: float = 10.0) -> Any:
        return await self.sandbox.slack.wait_for(predicate, timeout, message=message)

    def default_channel(self) -> str:
        return self.sandbox.config.channels.default

    def card_of(self, number: int, channel: str | None = None) -> dict[str, Any] | None:
        """The card of issue #number in a channel, as the fake Slack holds it now."""
        for message in self.sandbox.slack.messages(channel or self.default_channel()):
            header = (message.get("blocks") or [{}])[0]
            if header.get("type") == "header" and header["text"]["text"].startswith(f"#{number} "):
                return message
        return None

    def shown(self, message: dict[str, Any]) -> str:
        return json.dumps(message.get("blocks", []), ensure_ascii=False)


@asynccontextmanager
async def running_sandbox(database_url: str, *, run_deliveries: bool = True) -> AsyncIterator[RunningSandbox]:
    base = Settings(_env_file=None, log_format="text")  # type: ignore[call-arg]
    sandbox = await Sandbox.start(base, sandbox_config(base), database_url=database_url)
    server = TestServer(sandbox.web_app(run_deliveries=run_deliveries), host="127.0.0.1")
    await server.start_server()
    sandbox.listening_on(str(server.make_url("/")))
    http = ClientSession()
    try:
        yield RunningSandbox(sandbox, server, http)
    finally:
        await http.close()
        await server.close()
        await sandbox.close()
        await asyncio.sleep(0)
    sandbox.slack.assert_no_violations()
    sandbox.jira.assert_no_violations()
