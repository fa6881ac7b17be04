"""`supportbridge check` in-process: a delivery that keeps failing is reported as a failure."""

from __future__ import annotations

from typing import Any

from bot.checks import run_checks
from bot.domain.outbox import SyncCard
from bot.services import outbox
from db.models import outbox_items
from db.session import Database


async def test_stuck_delivery_fails_the_check(
    database: Database, database_url: str, make_settings: Any, make_config: Any
) -> None:
    def stuck(conn: Any) -> None:
        outbox.enqueue_in(conn, SyncCard(1), dedupe_key="card:1")
        conn.execute(outbox_items.update().values(attempts=7, last_error="slack: channel_not_found"))

    await database.transaction(stuck)
    settings = make_settings(database_url=database_url, slack_bot_token=None, slack_signing_secret=None)
    results = await run_checks(settings, make_config())
    assert results.failed
    assert (
        "✗ error deliveries: 1 delivery(ies) keep failing (last error: slack: channel_not_found)"
        " → fix: see the WARNING lines in the log"
    ) in results.lines
    assert (
        "✗ error slack.auth: SLACK_BOT_TOKEN is not set: no cards can be posted"
        " → fix: set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)"
    ) in results.lines


async def test_healthy_database_passes_its_checks(
    database: Database, database_url: str, make_settings: Any, make_config: Any
) -> None:
    settings = make_settings(database_url=database_url, slack_bot_token=None, slack_signing_secret=None)
    results = await run_checks(settings, make_config())
    assert "✓ ok database: database schema is current" in results.lines
    assert "✓ ok deliveries: deliveries flowing (0 pending)" in results.lines
