"""Short texts the bot sends to one person (ephemeral notes). Pure."""

from __future__ import annotations


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
    shown = word.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")[:40]
    return f"I don't know `/support {shown}`.\n\n{SUPPORT_USAGE}"
