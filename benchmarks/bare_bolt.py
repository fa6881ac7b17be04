"""The baseline for the acknowledgement benchmark: a bare Bolt AsyncApp on aiohttp whose listeners
only ack, served the same way as Supportbridge (one aiohttp route at /slack/events)."""

from __future__ import annotations

import argparse
import os

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build() -> web.Application:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    bolt = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @bolt.event("reaction_added")
    async def on_reaction() -> None:
        return None

    @bolt.action("issue.open_link")
    async def on_action(ack: AsyncAck) -> None:
        await ack()

    @bolt.command("/support")
    async def on_command(ack: AsyncAck) -> None:
        await ack(text="ok")

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", lambda _r: web.json_response({"status": "ok"}))
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(build(), host="127.0.0.1", port=args.port, print=None, access_log=None)
