"""Inbound intake webhooks: the generic Standard Webhooks endpoint and the helpdesks.

Every route: size limit (413) → signature (401) → JSON and schema (400, naming the field) → store the
issue and its pending card in one transaction (503 if the database is away, so the sender retries) →
202 with the new id, or 200 with the id it repeats. Nothing is acknowledged that was not stored.
A helpdesk's customer answer on a conversation that is an issue joins it (200 with its id).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bot import metrics
from bot.domain.intake import CustomerAnswer, IntakeRequest
from bot.runtime import Runtime
from bot.services.customer_answers import record_customer_answer
from bot.services.intake import IntakeResult, ingest_issue
from bot.settings import Settings
from db.queries.deliveries import delivery_key
from db.session import DatabaseUnavailable, answer_within
from handlers.common import runtime_of_request
from handlers.inbound import BadRequest, parse_json_object, read_body
from integrations.helpdesks import (
    INTERCOM_SIGNATURE_HEADER,
    ZENDESK_SIGNATURE_HEADER,
    ZENDESK_TIMESTAMP_HEADER,
    Ignored,
    IntakeAuthError,
    MapResult,
    PayloadError,
    map_intercom_webhook,
    map_zendesk_webhook,
    verify_intercom,
    verify_zendesk,
)

log = logging.getLogger(__name__)

# Standard Webhooks message ids are short ("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"); the stored key is bounded.
MAX_MESSAGE_ID = 200
STORE_DEADLINE_SECONDS = 2.5
INTERNAL_FIELDS = ("permalink", "origin_channel", "origin_ts")
WEBHOOK = web.AppKey("intake_webhook", Webhook)  # the generic endpoint's verifier, when configured


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def unavailable() -> web.Response:
    return web.json_response(
        {"error": "database unavailable, nothing was stored: retry later"},
        status=503,
        headers={"Retry-After": "5"},
    )


def validation_error(exc: ValidationError) -> web.Response:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(body)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "is required"
    return error(400, f"{field}: {message}", field=field)


def accepted(result: IntakeResult) -> web.Response:
    return web.json_response({"id": result.issue_id}, status=202 if result.created else 200)


async def store(runtime: Runtime, request: IntakeRequest, delivery_key: str | None) -> web.Response:
    try:
        # Within the sender's patience (Slack's is 3 s): a hung database answers 503, not never.
        result = await answer_within(
            ingest_issue(runtime.database, runtime.config, request, delivery_key=delivery_key),
            STORE_DEADLINE_SECONDS,
        )
    except (DatabaseUnavailable, TimeoutError):
        log.warning("intake refused: database unavailable", extra={"source": request.source})
        return unavailable()
    if result.created:
        runtime.deliverer.wake()
    return accepted(result)


async def store_answer(runtime: Runtime, request: web.Request, answer: CustomerAnswer) -> web.Response:
    """A customer's answer on a conversation: 200 with the issue it joined (a repeat too), or 200
    and ignored when the conversation is no issue of ours (the sender must not retry it)."""
    try:
        outcome = await answer_within(
            record_customer_answer(runtime.database, answer), STORE_DEADLINE_SECONDS
        )
    except (DatabaseUnavailable, TimeoutError):
        log.warning("customer answer refused: database unavailable", extra={"source": answer.source})
        return unavailable()
    if outcome.issue_id is None:
        request[metrics.INTAKE_IGNORED_KEY] = True
        return web.json_response({"ignored": "the conversation is not a customer issue"}, status=200)
    if outcome.kind == "recorded":
        request[metrics.INTAKE_ANSWER_KEY] = True
        runtime.deliverer.wake()
    return web.json_response({"id": outcome.issue_id}, status=200)


async def generic_webhook(request: web.Request) -> web.Response:
    webhook = request.app.get(WEBHOOK)
    body = await read_body(request)
    if webhook is None:
        return error(503, "generic intake is not configured: set INTAKE_SECRET")
    try:
        # Checks the signature and the 5-minute timestamp tolerance of Standard Webhooks.
        webhook.verify(body, dict(request.headers), json_parse=False)
    except WebhookVerificationError as exc:
        raise BadRequest(401, f"signature check failed: {exc}") from None
    except (ValueError, TypeError):  # a timestamp that is no number, a body that is not UTF-8
        raise BadRequest(401, "signature check failed: unreadable webhook headers or body") from None
    message_id = request.headers["webhook-id"]
    if len(message_id) > MAX_MESSAGE_ID:
        raise BadRequest(400, f"webhook-id is longer than {MAX_MESSAGE_ID} characters")
    data = parse_json_object(body)
    for internal in INTERNAL_FIELDS:  # set only by our own Slack intake, never by a sender
        data.pop(internal, None)
    try:
        intake = IntakeRequest.model_validate(data)
    except ValidationError as exc:
        return validation_error(exc)
    if intake.customer is None:  # only our own Slack intake may store a report without a customer
        return error(400, "customer: is required", field="customer")
    return await store(runtime_of_request(request), intake, f"intake:webhook:{message_id}")


async def helpdesk(
    source: str, request: web.Request, secret: str | None, setting: str, verify: Any, mapper: Any
) -> web.Response:
    body = await read_body(request)
    if secret is None:
        return error(503, f"{source} intake is not configured: set {setting}")
    try:
        verify(secret, body)
    except IntakeAuthError as exc:
        raise BadRequest(401, f"signature check failed: {exc.reason}") from None
    payload = parse_json_object(body)
    try:
        result: MapResult = mapper(payload)
    except PayloadError as exc:
        field = str(exc).split(":", 1)[0]
        return error(400, str(exc), field=field)
    if isinstance(result, Ignored):
        log.info("helpdesk event ignored", extra={"source": source, "reason": result.reason})
        request[metrics.INTAKE_IGNORED_KEY] = True
        return web.json_response({"ignored": result.reason}, status=200)
    if isinstance(result, CustomerAnswer):
        return await store_answer(runtime_of_request(request), request, result)
    key = delivery_key(f"intake:{source}:", result.delivery_id) if result.delivery_id else None
    return await store(runtime_of_request(request), result.request, key)


async def zendesk(request: web.Request) -> web.Response:
    settings = runtime_of_request(request).settings
    secret = settings.zendesk_webhook_secret
    return await helpdesk(
        "zendesk",
        request,
        secret.get_secret_value() if secret else None,
        "ZENDESK_WEBHOOK_SECRET",
        lambda secret, body: verify_zendesk(
            secret,
            body,
            request.headers.get(ZENDESK_SIGNATURE_HEADER),
            request.headers.get(ZENDESK_TIMESTAMP_HEADER),
        ),
        lambda body: map_zendesk_webhook(body, subdomain=settings.zendesk_subdomain),
    )


async def intercom(request: web.Request) -> web.Response:
    secret = runtime_of_request(request).settings.intercom_client_secret
    return await helpdesk(
        "intercom",
        request,
        secret.get_secret_value() if secret else None,
        "INTERCOM_CLIENT_SECRET",
        lambda secret, body: verify_intercom(secret, body, request.headers.get(INTERCOM_SIGNATURE_HEADER)),
        map_intercom_webhook,
    )


def register(app: web.Application, settings: Settings) -> None:
    if settings.intake_secret is not None:
        # Built once, at start-up: a secret that does not decode stops the server, not a request.
        app[WEBHOOK] = Webhook(settings.intake_secret.get_secret_value())
    app.router.add_post("/intake/webhook", generic_webhook)
    app.router.add_post("/intake/zendesk", zendesk)
    app.router.add_post("/intake/intercom", intercom)
