"""The digest and the alerts end to end: really signed Slack requests into the real app, deliveries to the
contract-checked fake Slack, on SQLite and PostgreSQL.

- `/support digest` previews for the person asking; its button posts the digest to `channels.digest`,
  and the trend chart (a real PNG, with alt text) is uploaded into the digest's thread;
- without `files:write` the digest still posts and its thread says why there is no chart;
- the weekly schedule posts once per week, even when checked twice or by two processes at once;
- thresholds alert once per threshold (a burst crossing one twice alerts once), with the card link and
  the Jira status; a spike alerts once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.deliveries.digest import CHART_NOTE, NO_SCOPE_NOTE
from bot.domain.outbox import PostRenderer
from bot.ids import Action
from bot.services import triage
from bot.services.digest import enqueue_digest
from bot.services.posts import enqueue_post
from db.models import alerts, escalations, issues, utcnow
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from schedules import digest as jobs
from tests.harness import Stack, add_channels, answer_of, click, new_card, running_app

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture
async def digest_stack(database_url: str, slack: FakeSlack) -> AsyncIterator[Stack]:
    channels = add_channels(slack)
    channels["digest"] = slack.add_channel("product-digest")
    channels["alerts"] = slack.add_channel("product-alerts")
    config = {
        "channels": {
            "default": channels["default"],
            "digest": channels["digest"],
            "alerts": channels["alerts"],
        },
        "thresholds": [2, 3],
    }
    async with running_app(database_url, slack, channels, config_overrides=config) as stack:
        stack.extra["pm"] = slack.add_user("pm")
        yield stack


async def reports_from(stack: Stack, people: list[str], subject: str, **payload: Any) -> list[int]:
    ids = []
    for person in people:
        issue_id, _ = await new_card(
            stack,
            subject=subject,
            customer={"id": person, "email": f"{person}@example.test", "name": person.title()},
            **payload,
        )
        ids.append(issue_id)
    return ids


async def merge_all(stack: Stack, issue_ids: list[int]) -> int:
    """Merge every report into the first one's problem; returns that problem."""

    def merge(conn: Any) -> int:
        target = conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_ids[0])).scalar_one()
        for issue_id in issue_ids[1:]:
            triage.merge(conn, issue_id, "U0PM", target)
        return int(target)

    return await stack.runtime.database.transaction(merge)


def digest_post(stack: Stack) -> dict[str, Any]:
    return next(
        m for m in stack.slack.messages(stack.channels["digest"]) if "digest" in str(m.get("text")).lower()
    )


async def wait_thread_reply(
    stack: Stack, parent: dict[str, Any], predicate: Any, what: str
) -> dict[str, Any]:
    channel = stack.channels["digest"]

    def found() -> dict[str, Any] | None:
        return next((m for m in stack.slack.thread(channel, parent["ts"])[1:] if predicate(m)), None)

    return await stack.slack.wait_for(found, 15, message=what)  # type: ignore[no-any-return]


async def test_preview_then_post_with_the_chart_in_the_thread(digest_stack: Stack) -> None:
    stack = digest_stack
    first = await reports_from(stack, ["ann", "bob", "cyd"], "Invoice PDF is blank", product_area="billing")
    await reports_from(stack, ["dee"], "Login loops", product_area="auth")
    await merge_all(stack, first)

    response = await stack.slash_command("digest", user=stack.extra["pm"], channel=stack.channels["default"])
    preview = await answer_of(response)
    shown = json.dumps(preview["blocks"])
    assert "Weekly digest" in preview["text"] and "4 new issues" in preview["text"]
    assert "Invoice PDF is blank" in shown and "*3 customers*" in shown
    assert stack.slack.messages(stack.channels["digest"]) == []  # a preview posts nothing

    button = next(
        e
        for b in preview["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == Action.DIGEST_POST
    )
    payload = {
        "type": "block_actions",
        "user": {"id": stack.extra["pm"]},
        "trigger_id": stack.slack.new_trigger_id(),
        "container": {"type": "message", "channel_id": stack.channels["default"], "is_ephemeral": True},
        "channel": {"id": stack.channels["default"]},
        "actions": [
            {"action_id": Action.DIGEST_POST, "block_id": "x", "type": "button", "value": button["value"]}
        ],
        "response_url": "https://hooks.slack.com/actions/T0/1/abc",
    }
    assert (await stack.slack_interaction(dict(payload))).status == 200
    assert (await stack.slack_interaction(dict(payload))).status == 200  # a double click posts once

    await stack.slack.wait_for(
        lambda: stack.slack.messages(stack.channels["digest"]), 15, message="the digest"
    )
    post = digest_post(stack)
    assert CHART_NOTE in json.dumps(post["blocks"])
    # The card link is resolved when the digest is sent, from Slack's permalink of the card.
    assert "<https://" in json.dumps(post["blocks"]) and "Invoice PDF is blank>" in json.dumps(post["blocks"])

    chart = await wait_thread_reply(stack, post, lambda m: m.get("files"), "the trend chart in the thread")
    shared = stack.slack.files[chart["files"][0]["id"]]
    assert shared["content"].startswith(b"\x89PNG\r\n\x1a\n") and len(shared["content"]) > 10_000
    assert shared["mimetype"] == "image/png"
    assert shared["alt_txt"].startswith("Line chart of new customer issues per week")
    assert "billing: 0, 0, 0, 0, 0, 0, 0, 3" in shared["alt_txt"]

    await asyncio.sleep(0.3)  # let any duplicate arrive before counting
    assert len(stack.slack.messages(stack.channels["digest"])) == 1
    assert len(stack.slack.calls_to("files.completeUploadExternal")) == 1
    stack.slack.assert_no_violations()


async def test_without_files_write_the_digest_posts_and_says_why(digest_stack: Stack) -> None:
    stack = digest_stack
    stack.slack.scopes.discard("files:write")
    await reports_from(stack, ["ann"], "Export is slow", product_area="reports")
    moment = utcnow()
    await stack.runtime.database.transaction(
        lambda conn: enqueue_digest(
            conn,
            channel=stack.channels["digest"],
            start=moment - timedelta(days=7),
            end=moment,
            key="digest:t",
        )
    )
    stack.runtime.deliverer.wake()
    await stack.slack.wait_for(
        lambda: stack.slack.messages(stack.channels["digest"]), 15, message="the digest"
    )
    post = digest_post(stack)
    note = await wait_thread_reply(
        stack, post, lambda m: NO_SCOPE_NOTE in json.dumps(m.get("blocks")), "a note"
    )
    assert "files:write" in note["text"]
    assert stack.slack.files == {}


async def test_the_weekly_digest_goes_out_once(digest_stack: Stack) -> None:
    stack = digest_stack
    runtime = stack.runtime
    config = runtime.config
    await reports_from(stack, ["ann"], "Export is slow", product_area="reports")
    monday = config.digest.schedule.latest(utcnow(), config.zone)
    # Two processes checking at the same moment, then a late tick: one digest.
    sent = await asyncio.gather(
        jobs.digest_tick(runtime.database, config, monday + timedelta(seconds=5)),
        jobs.digest_tick(runtime.database, config, monday + timedelta(seconds=5)),
    )
    assert sorted(sent) == [False, True]
    assert await jobs.digest_tick(runtime.database, config, monday + timedelta(minutes=3)) is False
    # Down for longer than the grace at that moment: that week's digest is skipped, not sent late.
    assert await jobs.digest_tick(runtime.database, config, monday + timedelta(days=7, minutes=30)) is False
    runtime.deliverer.wake()
    await stack.slack.wait_for(
        lambda: stack.slack.messages(stack.channels["digest"]), 15, message="the digest"
    )
    await asyncio.sleep(0.2)
    assert len(stack.slack.messages(stack.channels["digest"])) == 1
    day = monday.astimezone(config.zone)
    assert f"{day:%-d %b %Y}" in digest_post(stack)["text"]


async def test_a_threshold_crossed_twice_in_one_burst_alerts_once(digest_stack: Stack) -> None:
    stack = digest_stack
    runtime = stack.runtime
    ids = await reports_from(stack, ["ann", "bob", "cyd"], "Sync drops attachments", product_area="sync")
    problem = await merge_all(stack, ids)
    await runtime.database.transaction(
        lambda conn: conn.execute(
            escalations.insert().values(
                problem_id=problem,
                state="created",
                jira_key="SUP-9",
                jira_url="https://jira.example.test/browse/SUP-9",
                jira_status="In Progress",
            )
        )
    )
    # The burst took the problem past 2 and 3 customers between two checks, and two checks race.
    crossings = await asyncio.gather(
        jobs.check_thresholds(runtime.database, runtime.config),
        jobs.check_thresholds(runtime.database, runtime.config),
    )
    assert sorted(len(c) for c in crossings) == [0, 1]
    assert await jobs.check_thresholds(runtime.database, runtime.config) == []
    runtime.deliverer.wake()
    channel = stack.channels["alerts"]
    await stack.slack.wait_for(lambda: stack.slack.messages(channel), 15, message="the threshold alert")
    await asyncio.sleep(0.3)
    posted = stack.slack.messages(channel)
    assert len(posted) == 1
    shown = json.dumps(posted[0]["blocks"])
    assert "reached 3 customers" in shown and "SUP-9" in shown and "In Progress" in shown
    assert "Sync drops attachments>" in shown  # linked to its card
    rows = await runtime.database.transaction(
        lambda conn: conn.execute(select(alerts.c.level).where(alerts.c.kind == "threshold")).scalars().all()
    )
    assert sorted(rows) == ["2", "3"]  # both recorded, one post naming the higher

    # A fourth customer crosses nothing new.
    more = await reports_from(stack, ["dee"], "Sync drops attachments", product_area="sync")
    await merge_all(stack, [ids[0], *more])
    assert await jobs.check_thresholds(runtime.database, runtime.config) == []


async def test_a_spike_alerts_once(digest_stack: Stack) -> None:
    stack = digest_stack
    runtime = stack.runtime
    ids = await reports_from(
        stack, [f"p{i}" for i in range(6)], "Payments fail", product_area="payments", tags=["bug"]
    )
    # One report in the 8 weeks before: 6 in a day is far above it.
    await runtime.database.transaction(
        lambda conn: conn.execute(
            update(issues).where(issues.c.id == ids[0]).values(received_at=utcnow() - timedelta(days=30))
        )
    )
    assert await jobs.check_spikes(runtime.database, runtime.config) >= 1
    assert await jobs.check_spikes(runtime.database, runtime.config) == 0
    count = await runtime.database.transaction(
        lambda conn: conn.execute(
            select(func.count()).select_from(alerts).where(alerts.c.kind == "spike")
        ).scalar()
    )
    assert count == 4  # payments and the tag bug, each over the last 24 hours and the last 7 days
    runtime.deliverer.wake()
    channel = stack.channels["alerts"]
    await stack.slack.wait_for(lambda: stack.slack.messages(channel), 15, message="the spike alert")
    await asyncio.sleep(0.3)
    posted = stack.slack.messages(channel)
    assert len(posted) == 1  # one message for the check, listing its four spikes
    alert = posted[0]
    assert "4 complaint spikes" in str(alert.get("text"))
    lines = [b["text"]["text"] for b in alert["blocks"][1:]]
    assert len(lines) == 4
    assert sum("Product area *payments*: 5 reports in the last 24 hours" in t for t in lines) == 1
    assert sum("Tag *bug*: 5 reports in the last 7 days" in t for t in lines) == 1
    # Each line links the card of the problem most reported there, with a button that opens it.
    cards = {
        f"https://fake.slack.com/archives/{m['channel']}/p{m['ts'].replace('.', '')}"
        for m in stack.slack.messages(stack.channels["default"])
    }
    for block in alert["blocks"][1:]:
        button = block["accessory"]
        assert button["url"] in cards and button["action_id"] == Action.OPEN_PROBLEM
        assert f"Most reported: <{button['url']}|Payments fail>" in block["text"]["text"]
    response = await click(stack, alert, Action.OPEN_PROBLEM, stack.extra["pm"])
    assert response.status == 200  # a URL button, acknowledged


async def test_digest_command_usage(digest_stack: Stack) -> None:
    response = await digest_stack.slash_command(
        "digest 90d", user=digest_stack.extra["pm"], channel=digest_stack.channels["default"]
    )
    assert "`/support digest 30d`" in (await answer_of(response))["text"]


async def test_a_spike_alert_enqueued_by_an_earlier_version_still_posts(digest_stack: Stack) -> None:
    """Before spikes were batched, each post's args were the spike itself; such rows still render."""
    stack = digest_stack
    channel = stack.channels["alerts"]
    old = {"dimension": "tag", "name": "bug", "span": "24h", "observed": 7, "expected": 0.5}
    await stack.runtime.database.transaction(
        lambda conn: enqueue_post(
            conn,
            channel=channel,
            key="alert:spike:1:20261101T0900",
            render=PostRenderer.SPIKE_ALERT,
            args=old,
        )
    )
    stack.runtime.deliverer.wake()
    await stack.slack.wait_for(lambda: stack.slack.messages(channel), 15, message="the old spike alert")
    [posted] = stack.slack.messages(channel)
    assert "1 complaint spike. Tag *bug*: 7 reports in the last 24 hours" in str(posted["text"])


async def test_a_threshold_alert_shows_wont_do_not_done(digest_stack: Stack) -> None:
    stack = digest_stack
    runtime = stack.runtime
    ids = await reports_from(stack, ["ann", "bob"], "Dark mode please", product_area="ui")
    problem = await merge_all(stack, ids)
    await runtime.database.transaction(
        lambda conn: conn.execute(
            escalations.insert().values(
                problem_id=problem,
                state="created",
                jira_key="SUP-4",
                jira_url="https://jira.example.test/browse/SUP-4",
                jira_status="Done",
                jira_resolution="Won't Do",
            )
        )
    )
    assert len(await jobs.check_thresholds(runtime.database, runtime.config)) == 1
    runtime.deliverer.wake()
    channel = stack.channels["alerts"]
    await stack.slack.wait_for(lambda: stack.slack.messages(channel), 15, message="the threshold alert")
    shown = json.dumps(stack.slack.messages(channel)[0]["blocks"])
    assert "|SUP-4>: :no_entry_sign: won't do" in shown and "Done" not in shown
