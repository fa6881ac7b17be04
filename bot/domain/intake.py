"""Domain values shared by intake, services and views: no Slack, no HTTP, no database."""

from __future__ import annotations

from datetime import UTC, datetime
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


class Customer(BaseModel):
    """Who reported it. `id` is the identity within the source; distinct-customer counts use
    the e-mail address when there is one, so the same person over two channels counts once."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FIELD)]
    name: str | None = None
    email: str | None = None
    company: str | None = None
    plan: str | None = None
    slack_user_id: str | None = None

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
    customer: Customer
    product_area: str | None = None
    severity: Severity = Severity.NORMAL
    tags: list[str] = Field(default_factory=list)
    url: str | None = None
    created_at: datetime | None = None
    permalink: str | None = None  # a Slack message the issue was logged from
    origin_channel: str | None = None
    origin_ts: str | None = None

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
            tag = tag.strip().lower()[:64]
            if tag and tag not in seen:
                seen.append(tag)
        return seen[:MAX_TAGS]

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value
