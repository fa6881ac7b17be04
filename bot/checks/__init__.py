"""`supportbridge check`: what is wrong or missing, one finding a line, each error with its fix.

The database, the secrets and the mailbox here; Slack (`bot.checks.slack`) and Jira (`bot.checks.jira`)
beside. A check that cannot run (a service unreachable) is an error saying so, and the others still run.
"""

from __future__ import annotations

import asyncio

from bot.checks.findings import CALL_TIMEOUT, CheckResults, Finding
from bot.checks.jira import check_jira
from bot.checks.slack import check_placeholders, check_slack
from bot.config import AppConfig
from bot.services.outbox import dead_deliveries, outbox_health
from bot.settings import Settings
from db.migrate import pending_revisions
from db.session import Database, DatabaseUnavailable
from integrations.imap import ImapError, ImapMailbox

__all__ = ["CheckResults", "Finding", "run_checks"]


async def _check_database(settings: Settings, config: AppConfig | None, results: CheckResults) -> None:
    database = Database(settings.database_url)
    try:
        await database.ping()
        results.ok("database", f"database reachable ({database.dialect})")
        pending = await pending_revisions(database)
        if pending:
            results.fail(
                "database",
                f"database schema is {len(pending)} migration(s) behind",
                "run `supportbridge migrate`",
            )
            return
        results.ok("database", "database schema is current")
        if config is not None:
            health = await outbox_health(database, config.deliveries)
            if health.stuck:
                results.fail(
                    "deliveries",
                    f"{health.stuck} delivery(ies) keep failing (last error: {health.last_error})",
                    "see the WARNING lines in the log",
                )
            else:
                results.ok("deliveries", f"deliveries flowing ({health.pending} pending)")
            if health.dead:
                latest = (await dead_deliveries(database, limit=1))[0]
                results.fail(
                    "deliveries",
                    f"{health.dead} delivery(ies) given up as dead (latest: #{latest.id} {latest.kind}, "
                    f"{latest.reason})",
                    "`supportbridge deliveries` lists them, `supportbridge deliveries retry ID…` sends them "
                    "again, `drop ID…` forgets them",
                )
    except DatabaseUnavailable as exc:
        results.fail("database", f"database unreachable at DATABASE_URL ({exc})", "check DATABASE_URL")
    finally:
        await database.dispose()


async def run_checks(settings: Settings, config: AppConfig | None) -> CheckResults:
    results = CheckResults()
    if config is not None:
        results.ok(
            "config",
            f"configuration {settings.supportbridge_config} is valid ({len(config.routes)} route(s))",
        )
        check_placeholders(config, results)
    await _check_database(settings, config, results)
    await check_slack(settings, config, results)
    for name, value, purpose in (
        ("INTAKE_SECRET", settings.intake_secret, "/intake/webhook"),
        ("ZENDESK_WEBHOOK_SECRET", settings.zendesk_webhook_secret, "/intake/zendesk"),
        ("INTERCOM_CLIENT_SECRET", settings.intercom_client_secret, "/intake/intercom"),
    ):
        if value is None:
            results.warn(
                "secret", f"{name} is not set: {purpose} answers 503", f"set {name} to take {purpose}"
            )
        else:
            results.ok("secret", f"{name} is set")
    await check_jira(settings, config, results)
    if config is not None:
        await _check_mailbox(settings, config, results)
        if config.csat.enabled and settings.public_url is None:
            results.warn(
                "csat",
                "csat.enabled is true but PUBLIC_URL is not set: no satisfaction survey is sent",
                "set PUBLIC_URL to the bot's public address (https://support.example.com)",
            )
    return results


async def _check_mailbox(settings: Settings, config: AppConfig, results: CheckResults) -> None:
    if config.email is None:
        results.warn("mailbox", "no email section in the configuration: the support mailbox is not read")
        return
    if settings.imap_password is None:
        results.fail(
            "mailbox", "IMAP_PASSWORD is not set: the support mailbox cannot be read", "set IMAP_PASSWORD"
        )
        return
    from bot.mail_poller import mailbox_settings

    mailbox = ImapMailbox(mailbox_settings(config.email, settings.imap_password.get_secret_value()))
    try:
        async with asyncio.timeout(2 * CALL_TIMEOUT):
            await mailbox.connect()
            waiting = len(await mailbox.unprocessed())
        results.ok(
            "mailbox", f"mailbox {config.email.user} on {config.email.host}: {waiting} message(s) to take"
        )
    except ImapError as exc:
        results.fail("mailbox", str(exc), "check the email section and IMAP_PASSWORD")
    except TimeoutError:
        results.fail(
            "mailbox",
            f"mailbox: {config.email.host} did not answer within {2 * CALL_TIMEOUT:g}s",
            "check email.host, email.port and the network",
        )
    finally:
        await mailbox.close()
