"""End-to-end harness: the real aiohttp app on loopback, a fake Slack beside it, and clients that
sign every request with the real signing code (Slack's, Standard Webhooks', Zendesk's, Intercom's)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from bot.app import RUNTIME, create_web_app
from bot.config import AppConfig, parse_config
from bot.runtime import Runtime
from bot.settings import Settings
from integrations.helpdesks import sign_intercom, sign_zendesk
from sandbox.fakes.slack_api import FakeSlack
from tests.conftest import (
    BOT_TOKEN,
    INTAKE_SECRET,
    INTERCOM_SECRET,
    SIGNING_SECRET,
    ZENDESK_SECRET,
    make_config_data,
)


def slack_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


@dataclass
class Stack:
    """A running app and the fakes it talks to."""

    server: TestServer
    http: ClientSession
    slack: FakeSlack
    channels: dict[str, str]
    config: AppConfig
    settings: Settings
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self) -> Runtime:
        return self.server.app[RUNTIME]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    # -- Slack -> app

    async def slack_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry: int | None = None,
        secret: str = SIGNING_SECRET,
    ) -> ClientResponse:
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": self.slack.team_id,
                "api_app_id": self.slack.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {"team_id": self.slack.team_id, "user_id": self.slack.bot_user_id, "is_bot": True}
                ],
            }
        )
        headers = {**slack_headers(body, secret=secret), "Content-Type": "application/json"}
        if retry:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.http.post(self.url("/slack/events"), data=body, headers=headers)

    async def slack_interaction(self, payload: dict[str, Any]) -> ClientResponse:
        payload.setdefault("team", {"id": self.slack.team_id, "domain": "fake"})
        payload.setdefault("api_app_id", self.slack.app_id)
        payload.setdefault("token", "legacy-verification-token")
        body = urlencode({"payload": json.dumps(payload)})
        headers = {**slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
        return await self.http.post(self.url("/slack/events"), data=body, headers=headers)

    async def jira_webhook(
        self,
        payload: dict[str, Any] | bytes,
        *,
        identifier: str | None = None,
        secret: str | None = None,
    ) -> ClientResponse:
        """Jira Cloud's webhook POST: the body signed with the shared secret (X-Hub-Signature)."""
        from tests.conftest import JIRA_WEBHOOK_SECRET

        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        digest = hmac.new((secret or JIRA_WEBHOOK_SECRET).encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": f"sha256={digest}",
            "X-Atlassian-Webhook-Identifier": identifier or uuid.uuid4().hex,
        }
        return await self.http.post(self.url("/jira/webhook"), data=body, headers=headers)

    async def slash_command(
        self, text: str, *, user: str, channel: str, command: str = "/support"
    ) -> ClientResponse:
        body = urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": self.slack.team_id,
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": "support",
                "user_id": user,
                "user_name": "agent",
                "command": command,
                "text": text,
                "api_app_id": self.slack.app_id,
                "response_url": "https://hooks.slack.com/commands/T0/1/abc",
                "trigger_id": self.slack.new_trigger_id(),
            }
        )
        headers = {**slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
        return await self.http.post(self.url("/slack/events"), data=body, headers=headers)

    # -- intake webhooks -> app

    async def webhook(
        self,
        payload: dict[str, Any] | bytes,
        *,
        msg_id: str | None = None,
        timestamp: datetime | None = None,
        secret: str = INTAKE_SECRET,
    ) -> ClientResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        when = timestamp or datetime.now(UTC)
        signature = Webhook(secret).sign(msg_id, when, body.decode("utf-8", "replace"))
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature,
            "Content-Type": "application/json",
        }
        return await self.http.post(self.url("/intake/webhook"), data=body, headers=headers)

    async def zendesk(
        self, body: bytes, *, secret: str = ZENDESK_SECRET, timestamp: str | None = None
    ) -> ClientResponse:
        ts = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "X-Zendesk-Webhook-Signature": sign_zendesk(secret, body, ts),
            "X-Zendesk-Webhook-Signature-Timestamp": ts,
            "Content-Type": "application/json",
        }
        return await self.http.post(self.url("/intake/zendesk"), data=body, headers=headers)

    async def intercom(self, body: bytes, *, secret: str = INTERCOM_SECRET) -> ClientResponse:
        headers = {"X-Hub-Signature": sign_intercom(secret, body), "Content-Type": "application/json"}
        return await self.http.post(self.url("/intake/intercom"), data=body, headers=headers)

    # -- waiting for outcomes

    async def wait_for_cards(self, channel: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        await self.slack.wait_for(
            lambda: len(self.slack.messages(channel)) >= count,
            timeout,
            message=f"{count} card(s) in {channel}",
        )
        return self.slack.messages(channel)

    async def wait_for_recorded_card(self, issue_id: int, timeout: float = 10.0) -> Any:
        """The card the bot remembers having posted for an issue (recorded right after the post)."""
        from sqlalchemy import select

        from db.models import SlackMessage

        async def recorded() -> Any:
            async with self.runtime.database.session() as session:
                return await session.scalar(select(SlackMessage).where(SlackMessage.issue_id == issue_id))

        return await self.slack.wait_for(recorded, timeout, message=f"card of issue {issue_id} recorded")


# -- cards: post one, use its controls as Slack would, read what it shows ---------------------------


async def new_card(stack: Stack, **payload: Any) -> tuple[int, dict[str, Any]]:
    response = await stack.webhook(make_issue_payload(**payload))
    issue_id = (await response.json())["id"]
    recorded = await stack.wait_for_recorded_card(issue_id)
    return issue_id, stack.slack.message(recorded.channel, recorded.ts)


def control(card: dict[str, Any], action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The block and element of a control on a message (in an actions block or as an accessory)."""
    for block in card["blocks"]:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return block, element
    raise AssertionError(f"no {action_id} on the message")


def has_control(card: dict[str, Any], action_id: str) -> bool:
    try:
        control(card, action_id)
    except AssertionError:
        return False
    return True


async def click(
    stack: Stack, card: dict[str, Any], action_id: str, user: str, **chosen: Any
) -> ClientResponse:
    """What Slack sends when someone uses a control on the message as it now stands."""
    block, element = control(stack.slack.message(card["channel"], card["ts"]), action_id)
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block.get("block_id") or "sl4ck",  # Slack makes one up when a block has none
        "type": element["type"],
        "action_ts": "1700000000.000001",
    }
    if "value" in element:
        action["value"] = element["value"]
    action.update(chosen)
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": user},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "message", "channel_id": card["channel"], "message_ts": card["ts"]},
            "channel": {"id": card["channel"]},
            "message": {"ts": card["ts"]},
            "actions": [action],
            "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        }
    )
    assert response.status == 200
    return response


def shown(stack: Stack, card: dict[str, Any]) -> str:
    return json.dumps(stack.slack.message(card["channel"], card["ts"])["blocks"], ensure_ascii=False)


async def settled(stack: Stack, timeout: float = 15.0) -> None:
    """Until every queued delivery is sent or given up: after this, nothing more will be posted."""
    from sqlalchemy import func, select

    from db.models import OutboxItem

    async def drained() -> bool:
        async with stack.runtime.database.session() as session:
            pending = await session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")
            )
        return pending == 0

    await stack.slack.wait_for(drained, timeout, message="outbox drained")


def notes(stack: Stack, card: dict[str, Any]) -> list[str]:
    return [
        json.dumps(m["blocks"], ensure_ascii=False)
        for m in stack.slack.thread(card["channel"], card["ts"])[1:]
    ]


def make_issue_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "external_id": f"ext-{uuid.uuid4().hex[:8]}",
        "source": "webform",
        "subject": "Invoices export times out",
        "body": "Exporting more than 1000 invoices never finishes.",
        "customer": {
            "id": "cust-42",
            "name": "Dana Smith",
            "email": "dana@acme.test",
            "company": "Acme",
            "plan": "Pro",
        },
        "product_area": "reporting",
        "severity": "normal",
        "tags": ["bug"],
        "url": "https://forms.example.test/submissions/1",
    }
    payload.update(overrides)
    return payload


@asynccontextmanager
async def running_app(
    database_url: str,
    slack: FakeSlack,
    channels: dict[str, str],
    *,
    settings_overrides: dict[str, Any] | None = None,
    config_overrides: dict[str, Any] | None = None,
    run_deliveries: bool = True,
) -> AsyncIterator[Stack]:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.url,
        "database_url": database_url,
        "intake_secret": INTAKE_SECRET,
        "zendesk_webhook_secret": ZENDESK_SECRET,
        "intercom_client_secret": INTERCOM_SECRET,
        "log_format": "text",
    }
    values.update(settings_overrides or {})
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    data = make_config_data(
        channels={"default": channels["default"]},
        routes=[
            {"match": {"severity": "urgent"}, "channel": channels["urgent"]},
            {"match": {"product_area": "billing"}, "channel": channels["billing"]},
        ],
    )
    data.update(config_overrides or {})
    config = parse_config(data)
    app = create_web_app(settings, config, run_deliveries=run_deliveries)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = ClientSession()
    try:
        yield Stack(
            server=server, http=http, slack=slack, channels=channels, config=config, settings=settings
        )
    finally:
        await http.close()
        await server.close()


async def answer_of(response: Any) -> dict[str, Any]:
    """A slash command's answer: Bolt sends text alone as text/plain, text with blocks as JSON."""
    assert response.status == 200
    if response.content_type == "application/json":
        return await response.json()  # type: ignore[no-any-return]
    return {"text": await response.text()}


def add_channels(slack: FakeSlack) -> dict[str, str]:
    return {
        "default": slack.add_channel("customer-issues"),
        "urgent": slack.add_channel("urgent-issues"),
        "billing": slack.add_channel("billing-issues"),
        "feedback": slack.add_channel("customer-feedback"),
    }
