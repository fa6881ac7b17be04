"""The contract-checking fake Slack in a process of its own, so that validating the bot's calls does
not share the load generator's event loop (which would inflate the latencies it measures).

Prints its Web API URL on the first line of stdout, serves until terminated. Two extra routes:
POST /_bench/setup (channels, users and seeded messages) and GET /_bench/state (what was posted).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.fakes.slack_api import FakeSlack


class BenchFakeSlack(FakeSlack):
    def _make_app(self) -> web.Application:
        app = super()._make_app()
        app.router.add_post("/_bench/setup", self._setup)
        app.router.add_get("/_bench/state", self._state)
        app.router.add_get("/_bench/messages/{channel}", self._messages)
        app.router.add_get("/_bench/calls", self._calls)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # When each call came, for rates per channel (benchmarks/storm.py).
        self.timed.append(time.monotonic())
        return await super()._handle(request)

    async def _calls(self, _request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "at": at,
                    "method": method,
                    "channel": args.get("channel"),
                    "ts": args.get("ts"),
                    "thread_ts": args.get("thread_ts"),
                }
                for at, (method, args) in zip(self.timed, self.calls, strict=False)
            ]
        )

    async def _setup(self, request: web.Request) -> web.Response:
        spec: dict[str, Any] = await request.json()
        users = [self.add_user(name) for name in spec.get("users", [])]
        channels = {name: self.add_channel(name) for name in spec.get("channels", [])}
        seeded = [
            self.post_message_in(channels[spec["seed_channel"]], f"message {i}", user=users[0])
            for i in range(int(spec.get("seed_messages", 0)))
        ]
        return web.json_response({"users": users, "channels": channels, "seeded": seeded})

    async def _messages(self, request: web.Request) -> web.Response:
        return web.json_response(self.messages(request.match_info["channel"]))

    async def _state(self, _request: web.Request) -> web.Response:
        posted = {cid: self.messages(cid) for cid in self.channels}
        distinct = {
            cid: len({m["blocks"][0]["text"]["text"].split(" ")[0] for m in msgs if m.get("blocks")})
            for cid, msgs in posted.items()
        }
        return web.json_response(
            {
                "messages": {cid: len(msgs) for cid, msgs in posted.items()},
                "distinct_cards": distinct,
                "violations": self.violations + self.response_violations,
            }
        )


async def main() -> None:
    # The contract is checked by the test suite; here it would make the fake the bottleneck.
    fake = BenchFakeSlack(token="xoxb-test-token", check_contract=False)
    fake.timed = []
    await fake.start()
    print(fake.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.close()


if __name__ == "__main__":
    asyncio.run(main())
