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
