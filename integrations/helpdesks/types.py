"""Results, errors and payload-reading helpers shared by the helpdesk webhook adapters.

Every adapter answers a verified webhook body with one of three results, or raises:

* `Mapped`: the payload opened a customer issue; `request` is ready for the intake service.
* `CustomerAnswer` (`bot.domain.intake`): a customer's answer on an existing conversation or
  ticket, for `bot.services.customer_answers`; never an agent's or admin's message.
* `Ignored`: a well-formed payload that opens nothing (a ping, a status change, an agent's reply...).
  The HTTP layer answers 2xx so the vendor does not retry it.
* `PayloadError`: the payload is malformed; the message names the field ("detail.id: missing")
  and is safe to return in a 400 body (it never echoes customer text).
* `IntakeAuthError` (see `signatures.SignatureError`): the request is not authentic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from bot.domain.intake import CustomerAnswer, IntakeRequest

SUBJECT_FALLBACK_CHARS = 80


class IntakeAuthError(Exception):
    """A webhook request failed authentication. `reason` is short and safe to log: it never
    contains the secret or the request body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayloadError(ValueError):
    """The payload is not shaped as the vendor documents it. The message starts with the
    JSON path of the offending field, e.g. "data.item.id: missing"."""


@dataclass(frozen=True)
class Mapped:
    """The payload opened an issue. `delivery_id` is the vendor's id for this delivery (Zendesk
    event id, Intercom notification id) for the caller's duplicate check; None when the vendor
    sends none in the body (Zendesk trigger webhooks)."""

    request: IntakeRequest
    delivery_id: str | None


@dataclass(frozen=True)
class Ignored:
    """A valid payload that opens no issue; `reason` is a short explanation for logs."""

    reason: str


MapResult = Mapped | CustomerAnswer | Ignored


def decode_json(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON object of a webhook body; an already-decoded mapping is passed through."""
    if isinstance(body, Mapping):
        return body
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise PayloadError("body: not valid JSON") from None
    if not isinstance(value, dict):
        raise PayloadError("body: must be a JSON object")
    return value


def get_object(parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> Mapping[str, Any]:
    """`parent[key]` as an object; an absent optional object reads as empty."""
    value = parent.get(key)
    if value is None:
        if required:
            raise PayloadError(f"{path}: missing")
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"{path}: must be an object")
    return value


def get_text(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    """`parent[key]` as stripped text; numbers become their decimal text (vendors send ids both
    ways). Absent, null and blank read as None."""
    value = parent.get(key)
    if isinstance(value, bool):
        raise PayloadError(f"{path}: must be a string")
    if isinstance(value, int):
        value = str(value)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"{path}: must be a string")
    text = value.strip() if value else ""
    return text or None


def require_text(parent: Mapping[str, Any], key: str, path: str) -> str:
    text = get_text(parent, key, path)
    if text is None:
        raise PayloadError(f"{path}: missing")
    return text


def get_ticket_number(parent: Mapping[str, Any], key: str, path: str) -> str:
    """A required numeric id, as text. Also refuses a placeholder Zendesk left unrendered
    (the admin's "Test webhook" button sends the template text as is)."""
    text = require_text(parent, key, path)
    if not text.isascii() or not text.isdigit():
        raise PayloadError(f"{path}: must be a number")
    return text


def get_http_url(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    text = get_text(parent, key, path)
    if text is not None and not text.lower().startswith(("https://", "http://")):
        raise PayloadError(f"{path}: must be an http(s) URL")
    return text


def parse_iso_datetime(value: str | None, path: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"{path}: must be an ISO-8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_unix_time(parent: Mapping[str, Any], key: str, path: str) -> datetime | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{path}: must be a unix timestamp")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(f"{path}: must be a unix timestamp") from None


def subject_from_body(body: str) -> str | None:
    """The first non-blank line of the body, cut to 80 characters: the subject of a message
    that came without one."""
    for line in body.splitlines():
        line = " ".join(line.split())
        if line:
            if len(line) > SUBJECT_FALLBACK_CHARS:
                line = line[: SUBJECT_FALLBACK_CHARS - 1].rstrip() + "…"
            return line
    return None


def build_request(fields: dict[str, Any], paths: Mapping[str, str]) -> IntakeRequest:
    """Validate into an `IntakeRequest`, reporting a refusal against the vendor's field path
    (`paths` maps an IntakeRequest field to it) rather than our own model's."""
    return _validated(IntakeRequest, fields, paths)


def build_answer(fields: dict[str, Any], paths: Mapping[str, str]) -> CustomerAnswer:
    """Validate into a `CustomerAnswer`, reporting a refusal against the vendor's field path."""
    return _validated(CustomerAnswer, fields, paths)


_Model = TypeVar("_Model", IntakeRequest, CustomerAnswer)


def _validated(model: type[_Model], fields: dict[str, Any], paths: Mapping[str, str]) -> _Model:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        top = str(error["loc"][0]) if error["loc"] else ""
        path = paths.get(field) or paths.get(top) or field
        raise PayloadError(f"{path}: {error['msg']}") from None
