"""Reading text that arrives from Slack: what a person typed, a subject from it, a message's time."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime


def slack_text_to_plain(text: str) -> str:
    """Slack message text arrives with &, <, > escaped; store what the person typed."""
    return html.unescape(text)


SUBJECT_MAX = 100
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def subject_from_text(text: str) -> str:
    """A message's subject as a person would write it: its first line, or that line's first sentence
    when it has several, cut at a word (with "…") beyond `SUBJECT_MAX` characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    sentence = _SENTENCE_END.split(first, maxsplit=1)[0]
    if len(sentence) > SUBJECT_MAX:
        cut = sentence[: SUBJECT_MAX - 1]
        sentence = (cut.rsplit(" ", 1)[0] if " " in cut[20:] else cut).rstrip(" ,;:-") + "…"
    return sentence or "Message from Slack"


def ts_to_datetime(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except ValueError:
        return None


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def email_in_text(text: str) -> str:
    """The first e-mail address a message mentions (Slack writes them as `<mailto:a@b|a@b>`)."""
    found = _EMAIL.search(text)
    return found.group(0).lower() if found else ""


_HELPDESK_LINKS = (
    ("Zendesk ticket", re.compile(r"https://[a-z0-9-]+\.zendesk\.com/(?:agent/)?tickets/(\d+)", re.I)),
    (
        "Intercom conversation",
        re.compile(r"https://app\.intercom\.(?:com|io)/a/(?:apps|inbox)/[^\s>|]*conversations?/(\d+)", re.I),
    ),
)


def helpdesk_ticket_in_text(text: str) -> str:
    """ "Zendesk ticket 123" for the first helpdesk link a message holds: the customer to name when
    the message gives no e-mail address (the ticket says who wrote)."""
    for label, pattern in _HELPDESK_LINKS:
        found = pattern.search(text)
        if found:
            return f"{label} {found.group(1)}"
    return ""


_LINK = re.compile(r"<((?:https?|mailto):[^|<>\s]+)(?:\|([^<>]*))?>")
_SLACK_REFERENCE = re.compile(r"<[@#!][^<>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def text_for_customer(text: str, limit: int) -> tuple[str, str | None]:
    """What a customer may be sent of text written in Slack: plain text, Slack's link markup turned
    into "label (url)", control and direction characters removed, lines kept. The second value says
    why it cannot be sent as it is (a mention of a person, channel or group: those mean nothing
    outside Slack and name colleagues; empty; too long), else None."""
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    reference = _SLACK_REFERENCE.search(cleaned)
    if reference:
        return cleaned, (
            "Mentions of people, channels or groups mean nothing to a customer and name colleagues: "
            "write it out in words instead."
        )

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        url = url.removeprefix("mailto:") if url.startswith("mailto:") else url
        return f"{label} ({url})" if label and label != url else url

    cleaned = _LINK.sub(link, cleaned).strip()
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    if not cleaned:
        return cleaned, "Write the message to send."
    if len(cleaned) > limit:
        return cleaned, f"That is {len(cleaned):,} characters; a message to a customer is at most {limit:,}."
    return cleaned, None
