"""A sandbox: the real bot wired to a local fake Slack and fake Jira, with generated secrets.

Everything outside the process is replaced, whatever the environment says: the Slack Web API, Jira,
the intake, Jira and helpdesk webhook secrets, every channel a reply to a customer goes out by (a fake
inbox for e-mail, the fake Intercom and Zendesk, a webhook receiver for the generic sources: see
sandbox/customers.py), and the database (a file of its own, so a sandbox never mixes with real data).
The secrets are made fresh at each start and never logged: they only have to agree
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
from bot.config import AppConfig, ReplyWebhook, load_config, parse_config
from bot.settings import Settings
from sandbox.customers import SandboxCustomers
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
        intercom_access_token=secrets.token_urlsafe(24),
        intercom_client_secret=secrets.token_urlsafe(18),
        zendesk_api_token=secrets.token_urlsafe(24),
        zendesk_webhook_secret=secrets.token_urlsafe(18),
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


# The generic source the sandbox's web form sends as: its replies go to the sandbox's webhook receiver.
WEBFORM_SOURCE = "webform"


def with_own_reply_webhooks(config: AppConfig, notify_url: str) -> AppConfig:
    """The configuration with every `replies.webhooks` source (and the web form's) answered at the
    sandbox's own receiver: a notify_url from the configuration could be a real customer's system."""
    hooks = config.replies.webhooks
    sources = {*hooks, WEBFORM_SOURCE}
    webhooks = {
        source: (
            hooks[source].model_copy(update={"notify_url": notify_url})
            if source in hooks
            else ReplyWebhook(notify_url=notify_url)
        )
        for source in sorted(sources)
    }
    return config.model_copy(update={"replies": config.replies.model_copy(update={"webhooks": webhooks})})


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
    customers: SandboxCustomers
    # Given to the page when it loads and required of every API request: only the page drives it.
    page_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    page_hosts: frozenset[str] = LOOPBACK_HOSTS

    @classmethod
    async def start(
        cls, base: Settings, config: AppConfig, *, database_url: str = SANDBOX_DATABASE_URL
    ) -> Sandbox:
        """Start the fake Slack, Jira and the customer's side on loopback and derive the bot's settings
        from them."""
        made = make_secrets()
        checked = use_contracts(base.supportbridge_contracts) is not None
        slack = SandboxSlack(made.slack_token, check_contract=checked)
        jira = SandboxJira(made.jira_api_token, projects=jira_projects(config), check_contract=checked)
        jira.on_change = slack.touch
        seed_workspace(slack, config)
        customers = SandboxCustomers(
            intercom_token=made.intercom_access_token,
            zendesk_token=made.zendesk_api_token,
            webhook_secret=made.intake_secret,
            check_contract=checked,
        )
        customers.on_change = slack.touch
        await slack.start()
        await jira.start()
        await customers.start()
        config = with_own_reply_webhooks(config, customers.webhooks.url)
        settings = base.model_copy(
            update={
                "slack_bot_token": SecretStr(made.slack_token),
                "slack_signing_secret": SecretStr(made.slack_signing_secret),
                "slack_api_url": slack.url,
                "database_url": database_url,
                "host": base.host if "host" in base.model_fields_set else SANDBOX_HOST,
                "intake_secret": SecretStr(made.intake_secret),
                # The helpdesks' webhooks come from the page only (a customer answering), signed with
                # these; the mailbox stays off (no IMAP server: the page hands e-mails to the intake).
                "zendesk_webhook_secret": SecretStr(made.zendesk_webhook_secret),
                "intercom_client_secret": SecretStr(made.intercom_client_secret),
                "imap_password": None,
                # Replies reach the customer's side on loopback, never a real customer.
                **customers.reply_settings(),
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
        return cls(settings, config, slack, jira, sender, checked, customers)

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
        await self.customers.close()
        await self.jira.close()
        await self.slack.close()
