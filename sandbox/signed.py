"""What Slack, Jira and a web form send to the bot, signed the way each of them signs.

The page never holds a secret: it asks the sandbox server, which plays Slack (and Jira, and the web
form) and sends the request to the bot's own public routes over HTTP, signed with the sandbox's
secrets by the same code real senders use: Slack's v0 HMAC (slack_sdk's SignatureVerifier), Standard
Webhooks for the intake, and Jira's `X-Hub-Signature`. The bot cannot tell the sandbox from the real
services, which is the point.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, ClientTimeout
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from integrations.helpdesks.signatures import (
    INTERCOM_SIGNATURE_HEADER,
    ZENDESK_SIGNATURE_HEADER,
    ZENDESK_TIMESTAMP_HEADER,
    sign_intercom,
    sign_zendesk,
)

# Slack gives up on an answer after 3 seconds; the sandbox waits longer so a slow bot shows as slow
# rather than as a lost click.
_TIMEOUT = ClientTimeout(total=15)


@dataclass(frozen=True)
class Answer:
    """The bot's HTTP answer: status and body (JSON when it was JSON)."""

    status: int
    body: Any

    @property
    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


@dataclass
class Secrets:
    slack_token: str
    slack_signing_secret: str
    intake_secret: str
    jira_api_token: str
    jira_webhook_secret: str
    # The customer's side (sandbox/customers.py): the fake helpdesks' API tokens and webhook secrets.
    intercom_access_token: str = ""
    intercom_client_secret: str = ""
    zendesk_api_token: str = ""
    zendesk_webhook_secret: str = ""


class SignedSender:
    """Sends signed requests to the bot at `bot_url` (known once its server listens)."""

    def __init__(self, secrets: Secrets, team_id: str, app_id: str) -> None:
        self.secrets = secrets
        self.team_id = team_id
        self.app_id = app_id
        self.bot_url = ""
        self._http: ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> ClientSession:
        if self._http is None:
            self._http = ClientSession(timeout=_TIMEOUT)
        return self._http

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        if not self.bot_url:
            raise RuntimeError("the bot's address is not known yet")
        async with self._session().post(self.bot_url + path, data=body, headers=headers) as response:
            raw = await response.read()
            try:
                parsed: Any = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            return Answer(response.status, parsed)

    # -- Slack

    def slack_headers(self, body: str, content_type: str) -> dict[str, str]:
        timestamp = str(int(time.time()))
        verifier = SignatureVerifier(self.secrets.slack_signing_secret)
        signature = verifier.generate_signature(timestamp=timestamp, body=body) or ""
        return {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
            "Content-Type": content_type,
        }

    async def interaction(self, payload: dict[str, Any]) -> Answer:
        """block_actions, view_submission, view_closed, block_suggestion, shortcuts: a form field
        `payload` holding JSON, as Slack posts them."""
        payload.setdefault("team", {"id": self.team_id, "domain": "sandbox"})
        payload.setdefault("api_app_id", self.app_id)
        payload.setdefault("token", "sandbox-verification-token")  # legacy field, not checked
        payload.setdefault("is_enterprise_install", False)
        body = urlencode({"payload": json.dumps(payload)})
        headers = self.slack_headers(body, "application/x-www-form-urlencoded")
        return await self._post("/slack/events", body.encode(), headers)

    async def slash_command(
        self,
        command: str,
        text: str,
        *,
        user: str,
        user_name: str,
        channel: str,
        channel_name: str,
        trigger: str,
    ) -> Answer:
        body = urlencode(
            {
                "token": "sandbox-verification-token",
                "team_id": self.team_id,
                "team_domain": "sandbox",
                "channel_id": channel,
                "channel_name": channel_name,
                "user_id": user,
                "user_name": user_name,
                "command": command,
                "text": text,
                "api_app_id": self.app_id,
                "is_enterprise_install": "false",
                # No handler answers through response_url; Slack's own address is what it would carry.
                "response_url": f"https://hooks.slack.com/commands/{self.team_id}/sandbox",
                "trigger_id": trigger,
            }
        )
        headers = self.slack_headers(body, "application/x-www-form-urlencoded")
        return await self._post("/slack/events", body.encode(), headers)

    async def event(self, event: dict[str, Any], *, bot_user_id: str) -> Answer:
        body = json.dumps(
            {
                "token": "sandbox-verification-token",
                "team_id": self.team_id,
                "api_app_id": self.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team_id, "user_id": bot_user_id, "is_bot": True}],
            }
        )
        return await self._post("/slack/events", body.encode(), self.slack_headers(body, "application/json"))

    # -- a web form, through the signed intake webhook

    async def intake(self, payload: dict[str, Any]) -> Answer:
        body = json.dumps(payload)
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.secrets.intake_secret).sign(msg_id, now, body),
            "Content-Type": "application/json",
        }
        return await self._post("/intake/webhook", body.encode(), headers)

    # -- Jira's webhook

    async def jira_webhook(self, payload: dict[str, Any]) -> Answer:
        body = json.dumps(payload).encode()
        digest = hmac.new(self.secrets.jira_webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": f"sha256={digest}",
            "X-Atlassian-Webhook-Identifier": uuid.uuid4().hex,
        }
        return await self._post("/jira/webhook", body, headers)

    # -- the helpdesks' webhooks (a customer answering in Intercom or Zendesk)

    async def intercom_webhook(self, payload: dict[str, Any]) -> Answer:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            INTERCOM_SIGNATURE_HEADER: sign_intercom(self.secrets.intercom_client_secret, body),
        }
        return await self._post("/intake/intercom", body, headers)

    async def zendesk_webhook(self, payload: dict[str, Any]) -> Answer:
        body = json.dumps(payload).encode()
        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "Content-Type": "application/json",
            ZENDESK_SIGNATURE_HEADER: sign_zendesk(self.secrets.zendesk_webhook_secret, body, timestamp),
            ZENDESK_TIMESTAMP_HEADER: timestamp,
        }
        return await self._post("/intake/zendesk", body, headers)
