"""`supportbridge check`: what is wrong or missing, in plain lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import AppConfig
from bot.services.outbox import dead_deliveries, outbox_health
from bot.settings import Settings
from db.migrate import pending_revisions
from db.session import Database, DatabaseUnavailable
from integrations.imap import ImapError, ImapMailbox
from integrations.jira_client import JiraGateway, JiraUnavailable
from integrations.slack import SlackError, SlackGateway, build_web_client


@dataclass
class CheckResults:
    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def ok(self, text: str) -> None:
        self.lines.append(f"✓ {text}")

    def warn(self, text: str) -> None:
        self.lines.append(f"! {text}")

    def fail(self, text: str) -> None:
        self.lines.append(f"✗ {text}")
        self.failed = True


async def _check_database(settings: Settings, config: AppConfig | None, results: CheckResults) -> None:
    database = Database(settings.database_url)
    try:
        await database.ping()
        results.ok(f"database reachable ({database.dialect})")
        pending = await pending_revisions(database)
        if pending:
            results.fail(
                f"database schema is {len(pending)} migration(s) behind: run `supportbridge migrate`"
            )
            return
        results.ok("database schema is current")
        if config is not None:
            health = await outbox_health(database, config.deliveries)
            if health.stuck:
                results.fail(
                    f"{health.stuck} delivery(ies) keep failing (last error: {health.last_error}); "
                    "see the WARNING lines in the log"
                )
            else:
                results.ok(f"deliveries flowing ({health.pending} pending)")
            if health.dead:
                latest = (await dead_deliveries(database, limit=1))[0]
                results.fail(
                    f"{health.dead} delivery(ies) given up as dead (latest: #{latest.id} {latest.kind}, "
                    f"{latest.reason}): `supportbridge deliveries` lists them, "
                    "`supportbridge deliveries retry ID…` sends them again, `drop ID…` forgets them"
                )
    except DatabaseUnavailable as exc:
        results.fail(f"database unreachable at DATABASE_URL ({exc})")
    finally:
        await database.dispose()


async def _check_slack(settings: Settings, results: CheckResults) -> None:
    if settings.slack_bot_token is None:
        results.fail("SLACK_BOT_TOKEN is not set: no cards can be posted")
        return
    if settings.slack_signing_secret is None:
        results.fail("SLACK_SIGNING_SECRET is not set")
    client = build_web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_url, max_retries=0
    )
    try:
        identity = await SlackGateway(client).auth_test()
        results.ok(f"Slack token works (bot {identity.get('user')!s} in {identity.get('team')!s})")
    except SlackError as exc:
        results.fail(f"Slack auth.test failed: {exc}")


async def _check_jira(settings: Settings, results: CheckResults) -> None:
    if not settings.jira_url:
        results.warn("JIRA_URL is not set: escalation to Jira is off")
        return
    if not (settings.jira_email and settings.jira_api_token):
        results.fail("JIRA_EMAIL and JIRA_API_TOKEN are needed with JIRA_URL")
        return
    gateway = JiraGateway(settings.jira_url, settings.jira_email, settings.jira_api_token.get_secret_value())
    try:
        info = await gateway.server_info()
        results.ok(
            f"Jira reachable ({info.get('deploymentType', 'unknown')} {info.get('version', '')})".strip()
        )
    except JiraUnavailable as exc:
        results.fail(f"Jira serverInfo failed: {exc}")
    if settings.jira_webhook_secret is None:
        results.warn("JIRA_WEBHOOK_SECRET is not set: /jira/webhook answers 404 (Jira changes stay in Jira)")
    else:
        results.ok("JIRA_WEBHOOK_SECRET is set")


async def run_checks(settings: Settings, config: AppConfig | None) -> CheckResults:
    results = CheckResults()
    if config is not None:
        results.ok(f"configuration {settings.supportbridge_config} is valid ({len(config.routes)} route(s))")
    await _check_database(settings, config, results)
    await _check_slack(settings, results)
    for name, value, purpose in (
        ("INTAKE_SECRET", settings.intake_secret, "/intake/webhook"),
        ("ZENDESK_WEBHOOK_SECRET", settings.zendesk_webhook_secret, "/intake/zendesk"),
        ("INTERCOM_CLIENT_SECRET", settings.intercom_client_secret, "/intake/intercom"),
    ):
        if value is None:
            results.warn(f"{name} is not set: {purpose} answers 503")
        else:
            results.ok(f"{name} is set")
    await _check_jira(settings, results)
    if config is not None:
        await _check_mailbox(settings, config, results)
    return results


async def _check_mailbox(settings: Settings, config: AppConfig, results: CheckResults) -> None:
    if config.email is None:
        results.warn("no email section in the configuration: the support mailbox is not read")
        return
    if settings.imap_password is None:
        results.fail("IMAP_PASSWORD is not set: the support mailbox cannot be read")
        return
    from bot.mail_poller import mailbox_settings

    mailbox = ImapMailbox(mailbox_settings(config.email, settings.imap_password.get_secret_value()))
    try:
        await mailbox.connect()
        waiting = len(await mailbox.unprocessed())
        results.ok(f"mailbox {config.email.user} on {config.email.host}: {waiting} message(s) to take")
    except ImapError as exc:
        results.fail(f"mailbox: {exc}")
    finally:
        await mailbox.close()
