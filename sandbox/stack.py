"""A sandbox: the real bot wired to a local fake Slack and fake Jira, with generated secrets.

Everything outside the process is replaced, whatever the environment says: the Slack Web API, Jira,
the intake and Jira webhook secrets, and the database (a file of its own, so a sandbox never mixes with
real data). The secrets are made fresh at each start and never logged: they only have to agree
between the sandbox's senders and the bot.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass, field
from importlib import resources

import yaml
from aiohttp import web
from pydantic import SecretStr

from bot.app import create_web_app
from bot.config import AppConfig, load_config, parse_config
from bot.settings import Settings
from sandbox.fakes.contracts import use_contracts
from sandbox.jira_site import SandboxJira
from sandbox.signed import Secrets, SignedSender
from sandbox.workspace import SandboxSlack, seed_workspace

log = logging.getLogger(__name__)

SANDBOX_DATABASE_URL = "sqlite+aiosqlite:///./supportbridge-sandbox.db"
SANDBOX_HOST = "127.0.0.1"
# The names the sandbox page may be reached by (the Host header): loopback, plus the address it was
# told to listen on when it was allowed off loopback.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK_HOSTS


def make_secrets() -> Secrets:
    return Secrets(
        slack_token=f"xoxb-sandbox-{secrets.token_hex(12)}",
        slack_signing_secret=secrets.token_hex(16),
        intake_secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        jira_api_token=secrets.token_urlsafe(18),
        jira_webhook_secret=secrets.token_urlsafe(18),
    )


def sandbox_config(base: Settings) -> AppConfig:
    """The configuration a sandbox runs with: the bundled one (sandbox/workspace.yml), unless
    SUPPORTBRIDGE_CONFIG names one. The mailbox is left out: it would reach a real IMAP server."""
    if "supportbridge_config" in base.model_fields_set:
        config = load_config(base.supportbridge_config)
    else:
        text = resources.files("sandbox").joinpath("workspace.yml").read_text(encoding="utf-8")
        config = parse_config(yaml.safe_load(text))
    return config.model_copy(update={"email": None})


def jira_projects(config: AppConfig) -> tuple[str, ...]:
    keys = {config.jira.project or "SUP"}
    keys.update(route.jira_project for route in config.routes if route.jira_project)
    keys.update(config.releases.jira_projects)
    return tuple(sorted(keys))


@dataclass
class Sandbox:
    settings: Settings
    config: AppConfig
    slack: SandboxSlack
    jira: SandboxJira
    sender: SignedSender
    contracts_checked: bool
    # Given to the page when it loads and required of every API request: only the page drives it.
    page_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    page_hosts: frozenset[str] = LOOPBACK_HOSTS

    @classmethod
    async def start(
        cls, base: Settings, config: AppConfig, *, database_url: str = SANDBOX_DATABASE_URL
    ) -> Sandbox:
        """Start the fake Slack and Jira on loopback and derive the bot's settings from them."""
        made = make_secrets()
        checked = use_contracts(base.supportbridge_contracts) is not None
        slack = SandboxSlack(made.slack_token, check_contract=checked)
        jira = SandboxJira(made.jira_api_token, projects=jira_projects(config), check_contract=checked)
        jira.on_change = slack.touch
        seed_workspace(slack, config)
        await slack.start()
        await jira.start()
        settings = base.model_copy(
            update={
                "slack_bot_token": SecretStr(made.slack_token),
                "slack_signing_secret": SecretStr(made.slack_signing_secret),
                "slack_api_url": slack.url,
                "database_url": database_url,
                "host": base.host if "host" in base.model_fields_set else SANDBOX_HOST,
                "intake_secret": SecretStr(made.intake_secret),
                # Helpdesk webhooks and the mailbox stay off: the page sends the generic intake.
                "zendesk_webhook_secret": None,
                "intercom_client_secret": None,
                "imap_password": None,
                # Nor does a sandbox ever answer a real customer.
                "smtp_url": None,
                "intercom_access_token": None,
                "zendesk_api_token": None,
                "jira_url": jira.url,
                "jira_email": jira.email,
                "jira_api_token": SecretStr(made.jira_api_token),
                "jira_webhook_secret": SecretStr(made.jira_webhook_secret),
            }
        )
        sender = SignedSender(made, slack.team_id, slack.app_id)
        log.info(
            "sandbox started",
            extra={"contracts_checked": checked, "channels": len(slack.channels), "users": len(slack.users)},
        )
        return cls(settings, config, slack, jira, sender, checked)

    def web_app(self, *, run_deliveries: bool = True) -> web.Application:
        """The bot's own application, with the sandbox page added (only ever here)."""
        from sandbox.page import register

        app = create_web_app(self.settings, self.config, run_deliveries=run_deliveries)
        register(app, self)
        return app

    def listening_on(self, url: str, *, public_host: str | None = None) -> None:
        self.sender.bot_url = url.rstrip("/")
        if public_host:
            self.page_hosts = self.page_hosts | {public_host.strip("[]").lower()}

    async def close(self) -> None:
        await self.sender.close()
        await self.jira.close()
        await self.slack.close()
