"""Small Block Kit builders that enforce Slack's limits in one place.

Limits: https://docs.slack.dev/reference/block-kit/blocks (section text 3000, fields 10 x 2000,
header 150, context 10 elements, button text 75, button value 2000, url 3000, 50 blocks a message).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.when import local_time

Blocks = list[dict[str, Any]]

ELLIPSIS = "…"
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
MESSAGE_BLOCKS_MAX = 50
FALLBACK_TEXT_MAX = 3000
STATE_VERSION = 1


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control sequences in text, so customer text
    like `<!channel>`, `<@U123>` or `<https://evil|Approve>` shows as typed and pings no one.
    https://docs.slack.dev/messaging/formatting-message-text#escaping"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with a visible ellipsis. Never cuts an escape sequence in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:] and len(cut) - amp <= 5:
        cut = cut[:amp]
    return cut + ELLIPSIS


def mrkdwn(text: str, *, verbatim: bool = False, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "mrkdwn", "text": truncate(text, limit)}
    if verbatim:
        # verbatim stops Slack from turning bare channel names and mentions in the text into links.
        obj["verbatim"] = True
    return obj


def plain(text: str, limit: int, *, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": emoji}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX)}


def section(text: str, *, verbatim: bool = False, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text, verbatim=verbatim)}
    if block_id:
        block["block_id"] = block_id
    return block


def fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A section of up to 10 "*label*\\nvalue" fields; values must already be escaped."""
    return {
        "type": "section",
        "fields": [
            mrkdwn(f"*{label}*\n{value}", verbatim=True, limit=FIELD_TEXT_MAX) for label, value in pairs[:10]
        ],
    }


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(text) for text in texts[:10]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def link_button(text: str, url: str, action_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_MAX),
        "url": url[:URL_MAX],
        "action_id": action_id,
    }


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_MAX),
        "action_id": action_id,
        "value": value[:BUTTON_VALUE_MAX],
    }
    if style:
        element["style"] = style
    return element


def actions(elements: list[dict[str, Any]], *, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": elements[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def slack_date(unix_seconds: int, fallback: str, token: str = "{date_short_pretty} at {time}") -> str:
    """A date every reader sees in their own time zone.
    https://docs.slack.dev/messaging/formatting-message-text#date-formatting"""
    return f"<!date^{unix_seconds}^{token}|{fallback}>"


DATE_TOKENS = "{date_short_pretty} {time}"


def slack_time(moment: datetime, zone: ZoneInfo, tokens: str = DATE_TOKENS) -> str:
    """A moment each reader sees in their own time zone and language (Slack's date formatting), with
    `local_time` in the configured zone where Slack cannot format it."""
    return slack_date(int(moment.timestamp()), local_time(moment, zone), tokens)


def duration_text(seconds: float) -> str:
    """A span as a person says it: "12 min", "1 h 40 min", "2 d 3 h" (rounded to the minute)."""
    minutes = max(round(seconds / 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def encode_state(**ids: int | str) -> str:
    """Button values and private_metadata carry small, versioned id maps only."""
    value = json.dumps({"v": STATE_VERSION, **ids}, separators=(",", ":"))
    if len(value) > BUTTON_VALUE_MAX:
        raise ValueError("state too large for a button value")
    return value


def decode_state(value: str | None) -> dict[str, Any]:
    """The inverse of `encode_state`; an unknown version or garbage gives an empty map."""
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        return {}
    return data


def plural(count: int, one: str, many: str | None = None) -> str:
    """ "1 customer", "2 customers", "1 person", "3 people": a number with the word a person would write."""
    return f"{count} {one if count == 1 else (many or one + 's')}"
