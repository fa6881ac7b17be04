"""Authenticity checks for helpdesk webhooks, and the matching signers the tests use.

Each `verify_*` returns None for an authentic request and raises `SignatureError` otherwise.
They take the raw body bytes exactly as received: re-serialising parsed JSON changes the bytes
and breaks every signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from integrations.helpdesks.types import IntakeAuthError

ZENDESK_SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
INTERCOM_SIGNATURE_HEADER = "X-Hub-Signature"

ZENDESK_TOLERANCE = timedelta(seconds=300)

# Intercom signs only the body, so the notification's own `created_at` is the replay bound.
# A failed delivery (an error status, or no answer within Intercom's 5 s timeout) is sent once
# more about a minute later as the same notification, same id and created_at: it arrives about
# 65 s after created_at. 300 s covers that with room for Intercom's lower-priority queue (used
# for endpoints slower than 500 ms) and for clock skew. Replays inside the window are caught by
# the caller's duplicate check on the notification id, which must therefore remember ids for at
# least INTERCOM_MAX_AGE + INTERCOM_MAX_FUTURE. The endpoint must never answer 429: Intercom
# then delays deliveries by 1 minute up to 2 hours, past this window.
# https://developers.intercom.com/docs/webhooks/webhook-notifications
INTERCOM_MAX_AGE = timedelta(seconds=300)
INTERCOM_MAX_FUTURE = timedelta(seconds=300)


class SignatureError(IntakeAuthError):
    """The request's signature, or its freshness, does not check out."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("a webhook signing secret must not be empty")
    return key


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def sign_zendesk(secret: str | bytes, body: bytes, timestamp: str) -> str:
    """The `X-Zendesk-Webhook-Signature` value for this body and timestamp header:
    base64(HMAC-SHA256(secret, timestamp + body)).
    https://developer.zendesk.com/documentation/webhooks/verifying/"""
    digest = hmac.new(_key(secret), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_zendesk(
    secret: str | bytes,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: datetime | None = None,
    tolerance: timedelta = ZENDESK_TOLERANCE,
) -> None:
    """Check the two Zendesk signature headers (pass their values; None when absent)."""
    if not signature:
        raise SignatureError(f"missing {ZENDESK_SIGNATURE_HEADER} header")
    if not timestamp:
        raise SignatureError(f"missing {ZENDESK_TIMESTAMP_HEADER} header")
    try:
        signed_at = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise SignatureError("malformed signature timestamp") from None
    if signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=UTC)
    if abs(_now(now) - signed_at) > tolerance:
        raise SignatureError("signature timestamp outside the allowed window")
    expected = sign_zendesk(secret, body, timestamp)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8")):
        raise SignatureError("signature mismatch")


def sign_intercom(secret: str | bytes, body: bytes) -> str:
    """The `X-Hub-Signature` value for this body: "sha1=" + hex HMAC-SHA1(client_secret, body).
    https://developers.intercom.com/building-apps/docs/webhook-model#section-signed-notifications"""
    return "sha1=" + hmac.new(_key(secret), body, hashlib.sha1).hexdigest()


def verify_intercom(
    secret: str | bytes,
    body: bytes,
    signature: str | None,
    *,
    now: datetime | None = None,
    max_age: timedelta = INTERCOM_MAX_AGE,
    max_future: timedelta = INTERCOM_MAX_FUTURE,
) -> None:
    """Check `X-Hub-Signature` (pass its value; None when absent), then the notification's
    `created_at` against the replay window."""
    if not signature:
        raise SignatureError(f"missing {INTERCOM_SIGNATURE_HEADER} header")
    scheme, _, provided = signature.strip().partition("=")
    if scheme.lower() != "sha1" or not provided:
        raise SignatureError("malformed signature header")
    expected = sign_intercom(secret, body).partition("=")[2]
    if not hmac.compare_digest(expected.encode("ascii"), provided.lower().encode("utf-8")):
        raise SignatureError("signature mismatch")

    try:
        created_at = json.loads(body).get("created_at")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, RecursionError):
        raise SignatureError("notification body is not a JSON object") from None
    if isinstance(created_at, bool) or not isinstance(created_at, int | float):
        raise SignatureError("notification created_at missing")
    try:
        age = _now(now) - datetime.fromtimestamp(created_at, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise SignatureError("notification created_at invalid") from None
    if age > max_age:
        raise SignatureError("notification too old")
    if -age > max_future:
        raise SignatureError("notification created in the future")
