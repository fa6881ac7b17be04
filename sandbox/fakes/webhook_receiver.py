"""A fake receiver of reply webhooks (what a generic-webhook source runs at its ``notify_url``).

    async with FakeWebhookReceiver(secret) as receiver:
        config: replies.webhooks.webform.notify_url = receiver.url
        ...
        assert receiver.deliveries[0]["text"] == "Fixed!"

It does what Standard Webhooks asks of a receiver (https://www.standardwebhooks.com/): verifies the
``webhook-signature`` over ``webhook-id.webhook-timestamp.body`` with the shared secret and the
timestamp's tolerance (``standardwebhooks.Webhook.verify``; a bad one is 401 and kept in
``.refused``), and dedupes by ``webhook-id``: a repeat is answered 200 and counted in ``.duplicates``,
not delivered twice. ``answer(status)`` sets what it answers (410 for a source that no longer takes
replies, 500, …); the failure switches of the other fakes apply too (``fail("POST /replies", slow=3)``,
``answer_lost=True``).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .slack_api import Failure, FakeServer

PATH = "/replies"


class FakeWebhookReceiver(FakeServer):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self._verifier = Webhook(secret)
        self.deliveries: list[dict[str, Any]] = []  # verified and new, in arrival order
        self.delivery_ids: list[str] = []
        self.duplicates: list[str] = []
        self.refused: list[str] = []
        self.status = 204

    @property
    def url(self) -> str:
        return self.base_url + PATH

    def answer(self, status: int) -> None:
        self.status = status

    async def _load_contract(self) -> None:
        return None

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=1024**2)
        app.router.add_post(PATH, self._receive)
        return app

    def _failure_response(self, failure: Failure) -> web.Response:
        return web.Response(status=failure.status or 500)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        failure = self._take_failure(f"POST {PATH}")
        if failure is not None:
            early = await self._apply_failure(request, failure)
            if early is not None:
                return early
        try:
            payload = self._verifier.verify(raw, dict(request.headers))
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
            return web.json_response({"error": "invalid signature"}, status=401)
        webhook_id = request.headers["webhook-id"]
        if request.content_type != "application/json" or not isinstance(payload, dict):
            self.violations.append("the body is not a JSON object")
            return web.json_response({"error": "not a JSON object"}, status=400)
        if webhook_id in self.delivery_ids:
            self.duplicates.append(webhook_id)
        elif 200 <= self.status < 300:
            self.delivery_ids.append(webhook_id)
            self.deliveries.append(payload)
        if failure is not None and failure.answer_lost:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)
        if self.status == 204:
            return web.Response(status=204)
        return web.Response(status=self.status, text=json.dumps({"status": self.status}))
