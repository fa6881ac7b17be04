"""Reading text that arrives from Slack: what a person typed, a subject from it, a message's time."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from bot.views.blocks import truncate


def slack_text_to_plain(text: str) -> str:
    """Slack message text arrives with &, <, > escaped; store what the person typed."""
    return html.unescape(text)


def subject_from_text(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return truncate(first, 150) or "Message from Slack"


def ts_to_datetime(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except ValueError:
        return None
