"""Domain values shared by intake, services and views: no Slack, no HTTP, no database."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Bounds on customer text. Slack's own limits are enforced again in the views; these keep
# the database and every later render small and predictable.
MAX_SUBJECT = 500
MAX_BODY = 20_000
MAX_FIELD = 255
MAX_URL = 2_000
MAX_TAGS = 20
MAX_SLACK_ID = 32  # channel, user and message ts columns
MAX_IDENTITY_KEY = 320  # customers.identity_key
# Reports dated outside these bounds carry a broken clock or a hostile value: they are taken as
# reported now (kept, not refused: a helpdesk would not resend them).
EARLIEST_REPORT = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

# Removed from every piece of customer text before it is stored: C0 and C1 control characters except
# newline and tab (NUL is refused by PostgreSQL; the rest garble logs and terminals), lone surrogates,
# the byte-order mark, and the bidirectional embeddings, overrides and isolates that make text read
# differently from what it is (U+202E turns "exe.pdf" around: https://unicode.org/reports/tr36/).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029]+")


def clean_text(text: str) -> str:
    """Customer text made safe to store and show: unsafe characters removed, CRLF made LF."""
    return _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean_line(text: str) -> str:
    """A one-line value (a subject, a name, an id): `clean_text`, and line breaks become spaces."""
    return _LINE_BREAKS.sub(" ", clean_text(text))


class Severity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class IssueStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


def _clip(limit: int) -> Any:
    """A validator that trims surrounding whitespace and cuts overlong text instead of refusing it:
    a helpdesk that sends a 30 KB description should still get its issue logged."""

    def clip(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if len(value) > limit:
                value = value[: limit - 1] + "…"
        return value

    return clip


Text255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_FIELD)]
SlackId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_SLACK_ID)]


def _clean_lines(value: Any) -> Any:
    return clean_line(value) if isinstance(value, str) else value


class Customer(BaseModel):
    """Who reported it. `id` is the identity within the source; distinct-customer counts use
    the e-mail address when there is one, so the same person over two channels counts once."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FIELD)]
    name: str | None = None
    email: str | None = None
    company: str | None = None
    plan: str | None = None
    slack_user_id: SlackId | None = None

    _clean = field_validator("*", mode="before")(_clean_lines)
    _clip_fields = field_validator("name", "email", "company", "plan", mode="before")(_clip(MAX_FIELD))

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str | None) -> str | None:
        return value.lower() if value else None

    @property
    def identity_key(self) -> str:
        """The key that makes two reports "the same customer"."""
        if self.email:
            return f"email:{self.email}"
        return f"id:{self.id}"

    def key_within(self, source: str) -> str:
        """The stored identity: the e-mail address across sources, else the id within its source.
        A key longer than its column is stored as its SHA-256 (the same input, the same key)."""
        key = self.identity_key if self.email else f"{source}:{self.identity_key}"
        if len(key) <= MAX_IDENTITY_KEY:
            return key
        return f"{source}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


class IntakeRequest(BaseModel):
    """One customer issue as any intake channel hands it over (the generic webhook schema of
    PRODUCT.md; the helpdesk, e-mail and Slack adapters map their payloads onto it).
    Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FIELD)]
    source: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
    ]
    subject: Annotated[str, StringConstraints(min_length=1)]
    body: str
    # None only from our own Slack intake: a message logged before anyone said who the customer is.
    # The generic webhook refuses a report without one (handlers/intake_http.py).
    customer: Customer | None
    product_area: str | None = None
    severity: Severity = Severity.NORMAL
    tags: list[str] = Field(default_factory=list)
    url: str | None = None
    created_at: datetime | None = None
    permalink: str | None = None  # a Slack message the issue was logged from
    origin_channel: SlackId | None = None
    origin_ts: SlackId | None = None

    _clean_one_line = field_validator(
        "external_id",
        "source",
        "subject",
        "product_area",
        "url",
        "permalink",
        "origin_channel",
        "origin_ts",
        mode="before",
    )(_clean_lines)

    @field_validator("body", mode="before")
    @classmethod
    def _clean_body(cls, value: Any) -> Any:
        return clean_text(value) if isinstance(value, str) else value

    _clip_subject = field_validator("subject", mode="before")(_clip(MAX_SUBJECT))
    _clip_body = field_validator("body", mode="before")(_clip(MAX_BODY))
    _clip_area = field_validator("product_area", mode="before")(_clip(MAX_FIELD))

    @field_validator("subject")
    @classmethod
    def _subject_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("url", "permalink")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.strip()
        if len(value) > MAX_URL or not value.lower().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL of at most 2000 characters")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _normalise_tags(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        seen: list[str] = []
        for tag in value:
            if not isinstance(tag, str):
                raise ValueError("must be a list of strings")
            tag = clean_line(tag).strip().lower()[:64]
            if tag and tag not in seen:
                seen.append(tag)
        return seen[:MAX_TAGS]

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            return None
        if not EARLIEST_REPORT <= value <= datetime.now(UTC) + FUTURE_SLACK:
            return None
        return value


class CustomerAnswer(BaseModel):
    """A customer's answer on a conversation a helpdesk already told us about (an Intercom reply, a
    public Zendesk comment by an end user): it joins the issue of (`source`, `conversation_id`)
    rather than opening one. `delivery_id` is the sender's id of this delivery, taken once.
    Never an agent's or an admin's message: the adapters leave those out (our own replies, sent
    as an admin, come back as webhooks too)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
    ]
    conversation_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FIELD)
    ]
    delivery_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    text: str
    author_name: str | None = None
    author_email: str | None = None
    at: datetime | None = None

    _clean_one_line = field_validator(
        "source", "conversation_id", "delivery_id", "author_name", "author_email", mode="before"
    )(_clean_lines)
    _clip_author = field_validator("author_name", "author_email", mode="before")(_clip(MAX_FIELD))

    @field_validator("text", mode="before")
    @classmethod
    def _clean_answer(cls, value: Any) -> Any:
        return clean_text(value) if isinstance(value, str) else value

    _clip_text = field_validator("text", mode="before")(_clip(MAX_BODY))

    @field_validator("author_name", "author_email")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @field_validator("at")
    @classmethod
    def _aware_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            return None
        if not EARLIEST_REPORT <= value <= datetime.now(UTC) + FUTURE_SLACK:
            return None
        return value
