"""The dead letter: a delivery that can never succeed is kept as dead, told once in the alerts channel,
reported by `supportbridge check` and listed, retried or dropped by `supportbridge deliveries`; it
does not take the process out of the load balancer."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.domain.outbox import Post
from bot.services import outbox
from db.migrate import upgrade
from db.models import outbox_items
from db.session import Database
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import add_channels, make_issue_payload, running_app
from tests.test_cli import run_cli, write_config


def statuses(conn: Connection) -> list[tuple[str, str]]:
    return [(r.kind, r.status) for r in conn.execute(select(outbox_items).order_by(outbox_items.c.id))]


async def test_a_dead_card_is_told_once_in_alerts_then_retried_after_the_fix(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    alerts = slack.add_channel("support-alerts")
    config = {"channels": {"default": channels["default"], "alerts": alerts}}
    async with running_app(database_url, slack, channels, config_overrides=config) as stack:
        slack.archive_channel(channels["default"])
        for n in range(2):
            await stack.webhook(make_issue_payload(external_id=f"T-{n}", customer={"id": f"c{n}"}))
        database = stack.runtime.database

        async def both_dead() -> bool:
            return [s for s in await database.transaction(statuses) if s[0] == "sync_card"] == [
                ("sync_card", "dead"),
                ("sync_card", "dead"),
            ]

        await slack.wait_for(both_dead, timeout=10, message="both cards given up")
        await slack.wait_for(lambda: len(slack.messages(alerts)) >= 1, timeout=10, message="the notice")
        ready = await stack.http.get(stack.url("/readyz"))
        body = await ready.json()
        assert ready.status == 200 and body["checks"]["deliveries"]["dead"] == 2
        assert body["checks"]["delivery_loop"] == "ok"

        dead = await outbox.dead_deliveries(database)
        assert [(d.kind, d.reason, d.attempts) for d in dead] == [("sync_card", "slack: is_archived", 1)] * 2
        # Two cards dead for the same reason: one notice, naming the command that sends them again.
        notices = slack.messages(alerts)
        assert len(notices) == 1
        assert "given up" in notices[0]["text"] and f"deliveries retry {dead[-1].id}" in notices[0]["text"]
        assert slack.messages(channels["default"]) == []

        slack.channels[channels["default"]].is_archived = False  # someone unarchived it
        assert await outbox.retry_dead(database, [dead[1].id]) == 1
        stack.runtime.deliverer.wake()
        await stack.wait_for_cards(channels["default"], 1)
        assert await outbox.drop_dead(database) == 1
        assert await outbox.dead_deliveries(database) == []
    slack.assert_no_violations()


@pytest.fixture
async def dead_database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dead.db'}"
    database = Database(url)
    try:
        await upgrade(database)

        def add(conn: Connection) -> None:
            for channel in ("C1", "C2"):
                outbox.enqueue_in(conn, Post(channel=channel, text="hello"))
            conn.execute(
                outbox_items.update().values(status="dead", last_error="slack: channel_not_found", attempts=1)
            )

        await database.transaction(add)
    finally:
        await database.dispose()
    return url


async def test_the_deliveries_command_lists_retries_and_drops(dead_database: str, tmp_path: Path) -> None:
    env = {
        "SUPPORTBRIDGE_CONFIG": str(write_config(tmp_path / "supportbridge.yml")),
        "DATABASE_URL": dead_database,
        "LOG_FORMAT": "text",
    }
    code, out = await run_cli("deliveries", env=env)
    assert code == 0, out
    assert out.startswith("2 dead delivery(ies), the latest first:")
    assert "#1  post" in out and "#2  post" in out and "slack: channel_not_found" in out

    code, out = await run_cli("check", env=env)
    assert code == 1
    assert (
        "✗ error deliveries: 2 delivery(ies) given up as dead (latest: #2 post, slack: channel_not_found)"
        in out
    )

    code, out = await run_cli("deliveries", "retry", env=env)
    assert code == 2 and "name the ids" in out
    code, out = await run_cli("deliveries", "retry", "x1", env=env)
    assert code == 2 and "'x1' is not a delivery id" in out
    code, out = await run_cli("deliveries", "retry", "1", env=env)
    assert (code, out) == (0, "1 delivery(ies) will be sent again\n")
    code, out = await run_cli("deliveries", "drop", "--all", env=env)
    assert (code, out) == (0, "1 delivery(ies) dropped\n")
    code, out = await run_cli("deliveries", env=env)
    assert (code, out) == (0, "no dead deliveries\n")

    database = Database(dead_database)
    try:
        assert await database.transaction(statuses) == [("post", "pending")]
    finally:
        await database.dispose()
