"""Which mode `supportbridge serve` runs in: against real Slack, or the local sandbox.

The rule is the presence of Slack credentials and nothing else: with none of them the bot cannot talk
to Slack at all, so the sandbox is the only useful thing to start; with any of them the person meant
real Slack, and a half-set pair stays the start-up error it always was (`Settings.check_startup` runs
first), never a silent fall-back to a fake workspace.
"""

from __future__ import annotations

from enum import StrEnum

from bot.settings import Settings


class Mode(StrEnum):
    SLACK = "slack"
    SANDBOX = "sandbox"


def choose_mode(settings: Settings) -> Mode:
    if (
        settings.slack_bot_token is None
        and settings.slack_signing_secret is None
        and not settings.socket_mode
    ):
        return Mode.SANDBOX
    return Mode.SLACK


def describe(mode: Mode, *, url: str, slack_api_url: str = "", socket_mode: bool = False) -> str:
    """The plain lines the terminal shows at start-up."""
    if mode is Mode.SLACK and socket_mode:
        return (
            f"Supportbridge is running in SLACK mode over Socket Mode (Web API {slack_api_url}); "
            f"intake, Jira and health on {url}"
        )
    if mode is Mode.SLACK:
        return f"Supportbridge is running in SLACK mode (Web API {slack_api_url}), serving on {url}"
    return "\n".join(
        [
            "Supportbridge is running in SANDBOX mode: no Slack credentials are set, so it talks to a",
            "local fake Slack workspace and a fake Jira. Nothing leaves this machine.",
            f"  Open {url}/ in a browser to use it.",
            "  Set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to run against real Slack instead.",
        ]
    )
