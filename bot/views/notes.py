"""Short texts the bot sends to one person (ephemeral notes). Pure."""

from __future__ import annotations

from typing import Any

from bot.views.blocks import context, escape, section, truncate


def intake_confirmation(issue_id: int, created: bool, card_channel: str | None) -> str:
    where = f" The card is in <#{card_channel}>." if card_channel else ""
    if created:
        return f":white_check_mark: Logged as customer issue #{issue_id}.{where}"
    return f"This is already logged as customer issue #{issue_id}.{where}"


SUPPORT_USAGE = (
    "*Supportbridge* — customer issues in Slack.\n"
    "• `/support report` — log a customer issue with a form\n"
    "• `/support help` — this help\n"
    "You can also log any message: its ⋮ menu → *Log as customer issue*, "
    "or react with the configured emoji in a monitored channel."
)


def unknown_subcommand(word: str) -> str:
    shown = escape(word)[:40]
    return f"I don't know `/support {shown}`.\n\n{SUPPORT_USAGE}"


EMAIL_REPLY_PREVIEW_MAX = 2500


def render_email_reply(
    from_name: str | None, from_email: str, subject: str, text: str
) -> tuple[list[dict[str, Any]], str]:
    """A customer's e-mail reply, posted in the issue card's thread. Customer text escaped, bounded."""
    who = escape(f"{from_name} <{from_email}>" if from_name else from_email)
    quoted = escape(truncate(text.strip(), EMAIL_REPLY_PREVIEW_MAX)) or "_(no text)_"
    quoted = "\n".join(f">{line}" for line in quoted.splitlines() or [""])
    blocks = [
        context(f":envelope_with_arrow: Reply by e-mail from {who}"),
        section(quoted, verbatim=True),
    ]
    fallback = truncate(f"Reply by e-mail from {who}: {escape(subject)}", 300)
    return blocks, fallback


def _who(actor: str | None) -> str:
    return f"<@{actor}>" if actor else "Someone"


def render_triage_note(
    kind: str, actor: str | None, detail: dict[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """One line in the card's thread saying who did what."""
    who = _who(actor)
    if kind == "claimed":
        text = f":raising_hand: {who} is on it."
    elif kind == "released":
        text = f"{who} released the issue; it is unclaimed again."
    elif kind == "resolved":
        text = f":white_check_mark: {who} resolved the issue."
    elif kind == "reopened":
        text = f":arrows_counterclockwise: {who} reopened the issue."
    elif kind == "severity":
        before, after = escape(str(detail.get("from"))), escape(str(detail.get("to")))
        text = f"{who} changed the severity from {before} to {after}."
    elif kind == "tags":
        parts = []
        if detail.get("added"):
            parts.append("added " + ", ".join(f"`{escape(t)}`" for t in detail["added"]))
        if detail.get("removed"):
            parts.append("removed " + ", ".join(f"`{escape(t)}`" for t in detail["removed"]))
        text = f":label: {who} " + " and ".join(parts) + "."
    else:
        text = f"{who}: {escape(kind)}"
    return [context(text)], text
