"""Hostile and broken requests on every inbound route get a 4xx naming the problem, never a 500, and
the log gets one sampled line, not a traceback per request: unsigned garbage is refused before it is
parsed (401), signed garbage when it is read (400), an oversized body before it is read (413)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import UTC, datetime

import pytest
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from tests.conftest import INTAKE_SECRET, JIRA_WEBHOOK_SECRET, SIGNING_SECRET
from tests.harness import Stack, make_issue_payload

DEEP = b"[" * 50_000 + b"]" * 50_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


def slack_signed(body: bytes, *, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def slack_hmac(body: bytes) -> dict[str, str]:
    """Slack's v0 signature over raw bytes, as a sender that does not decode them would compute it."""
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def intake_signed(body: bytes, msg_id: str | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(INTAKE_SECRET).sign(msg_id, when, body.decode("utf-8", "replace")),
    }


def jira_signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(JIRA_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature": f"sha256={digest}", "X-Atlassian-Webhook-Identifier": uuid.uuid4().hex}


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# (route, body, headers, expected status, words of the answer)
CASES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    # -- Slack: the signature first, on the raw bytes
    ("/slack/events", b"not json at all", JSON, 401, "signature"),
    ("/slack/events", b"\xff\xfe garbage", JSON, 401, "signature"),
    ("/slack/events", DEEP, JSON, 401, "signature"),
    (
        "/slack/events",
        b"{}",
        {**JSON, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=1"},
        401,
        "signature",
    ),
    ("/slack/events", b"{}", {**JSON, **slack_signed(b"{}", timestamp="12abc")}, 401, "signature"),
    # -- Slack: signed, then read
    ("/slack/events", b"{nope", {**JSON, **slack_signed(b"{nope")}, 400, "not valid JSON"),
    ("/slack/events", b"[1, 2]", {**JSON, **slack_signed(b"[1, 2]")}, 400, "JSON object"),
    ("/slack/events", b'"text"', {**JSON, **slack_signed(b'"text"')}, 400, "JSON object"),
    # Slack's own verifier reads the body as UTF-8: bytes that are not cannot carry a valid signature.
    ("/slack/events", b'{"a": "\xff"}', {**JSON, **slack_hmac(b'{"a": "\xff"}')}, 401, "signature"),
    ("/slack/events", DEEP, {**JSON, **slack_signed(DEEP)}, 400, "nested too deeply"),
    ("/slack/events", DEEP_OBJECT, {**JSON, **slack_signed(DEEP_OBJECT)}, 400, "nested too deeply"),
    ("/slack/events", b"payload=%7Bnope", {**FORM, **slack_signed(b"payload=%7Bnope")}, 400, "payload field"),
    (
        "/slack/events",
        b"<xml/>",
        {"Content-Type": "text/xml", **slack_signed(b"<xml/>")},
        415,
        "JSON or a form",
    ),
    (
        "/slack/events",
        b'{"type": "event_callback"}',
        {"Content-Type": "application/json; charset=bogus-9", **slack_signed(b'{"type": "event_callback"}')},
        200,
        "",
    ),
    # -- the generic intake
    ("/intake/webhook", b"garbage", JSON, 401, "signature"),
    (
        "/intake/webhook",
        b"{}",
        {**JSON, "webhook-id": "m", "webhook-timestamp": "x", "webhook-signature": "v1,x"},
        401,
        "signature",
    ),
    ("/intake/webhook", b"{nope", {**JSON, **intake_signed(b"{nope")}, 400, "not valid JSON"),
    ("/intake/webhook", b"[]", {**JSON, **intake_signed(b"[]")}, 400, "JSON object"),
    ("/intake/webhook", b"\xff\xfe", {**JSON, **intake_signed(b"\xff\xfe")}, 401, "signature"),
    ("/intake/webhook", DEEP, {**JSON, **intake_signed(DEEP)}, 400, "nested too deeply"),
    ("/intake/webhook", b"{}", {**JSON, **intake_signed(b"{}", "m" * 300)}, 400, "webhook-id"),
    ("/intake/webhook", b'{"subject": 1}', {**JSON, **intake_signed(b'{"subject": 1}')}, 400, "external_id"),
    # -- Jira
    ("/jira/webhook", b"garbage", JSON, 401, "signature"),
    ("/jira/webhook", b"{nope", {**JSON, **jira_signed(b"{nope")}, 400, "not valid JSON"),
    ("/jira/webhook", b"[]", {**JSON, **jira_signed(b"[]")}, 400, "JSON object"),
    ("/jira/webhook", DEEP, {**JSON, **jira_signed(DEEP)}, 400, "nested too deeply"),
    ("/jira/webhook", b"\xff", {**JSON, **jira_signed(b"\xff")}, 400, "UTF-8"),
    (
        "/jira/webhook",
        b'{"webhookEvent": 7}',
        {**JSON, **jira_signed(b'{"webhookEvent": 7}')},
        400,
        "webhookEvent",
    ),
    # -- helpdesks: unsigned
    ("/intake/zendesk", b"garbage", JSON, 401, "signature"),
    ("/intake/intercom", b"garbage", JSON, 401, "signature"),
]


@pytest.mark.parametrize(
    ("route", "body", "headers", "status", "words"),
    CASES,
    ids=[f"{c[0]}-{n}-{c[3]}" for n, c in enumerate(CASES)],
)
async def test_bad_input_is_refused_with_a_4xx_that_says_why(
    jira_stack: Stack, route: str, body: bytes, headers: dict[str, str], status: int, words: str
) -> None:
    response = await jira_stack.http.post(jira_stack.url(route), data=body, headers=headers)
    assert response.status == status, await response.text()
    if words:
        assert words in (await response.json())["error"]


async def test_too_large_is_413_before_it_is_read(stack: Stack) -> None:
    body = b"x" * (1024 * 1024 + 1)
    for route in ("/slack/events", "/intake/webhook", "/jira/webhook"):
        response = await stack.http.post(stack.url(route), data=body, headers=JSON)
        assert response.status in (404, 413), route  # 404: the Jira webhook is off without its secret


async def test_two_hundred_garbage_requests_log_a_sample_not_two_hundred_tracebacks(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for n in range(200):
        route = ("/slack/events", "/intake/webhook")[n % 2]
        response = await stack.http.post(stack.url(route), data=DEEP if n % 3 else b"\xff", headers=JSON)
        assert response.status == 401
    refused = [r for r in caplog.records if r.getMessage() == "bad requests refused"]
    assert len(refused) == 2  # one sample per route and minute
    assert {r.route for r in refused} == {"/slack/events", "/intake/webhook"}  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    # (aiohttp's access log is the test server's; `serve` runs with access_log=None.)
    noise = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert sum(len(r.getMessage()) for r in noise) < 2_000, [r.getMessage() for r in noise][:5]


async def test_nul_and_other_hostile_text_in_a_signed_intake_is_stored_not_a_500(stack: Stack) -> None:
    hostile = "NUL\x00 bidi\u202e lone\udfff".encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    payload = make_issue_payload(
        subject=f"Subject {hostile}",
        body=f"Body {hostile}",
        customer={"id": f"id {hostile}", "name": f"Name {hostile}"},
        created_at="9999-12-31T23:59:59Z",
    )
    response = await stack.webhook(json.dumps(payload).encode())
    assert response.status == 202, await response.text()
    long_id = make_issue_payload(source="s" * 64, customer={"id": "c" * 255})
    assert (await stack.webhook(long_id)).status == 202
