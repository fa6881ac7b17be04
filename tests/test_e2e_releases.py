"""Release announcements end to end: really signed `/release` commands and modal submissions through the
real app, Jira's version webhook and version list from the fake Jira, and the heads-up, release-day and
watch posts as they land in the fake Slack. The clock is the test's: the scheduled check is run with
the moment each post is due."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, update

from bot.ids import INPUT, Action, Block
from bot.when import local_at
from db.models import escalations, issues, releases, utcnow
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from schedules.releases import check_releases, sync_jira_releases
from tests.conftest import JIRA_WEBHOOK_SECRET
from tests.harness import Stack, add_channels, click, new_card, running_app

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def people(slack: FakeSlack) -> dict[str, str]:
    """An admin (through a user group) and someone who is not."""
    admin, outsider = slack.add_user("lead"), slack.add_user("newcomer")
    return {"admin": admin, "outsider": outsider, "admins": slack.add_usergroup([admin])}


@pytest.fixture
async def release_stack(database_url: str, slack: FakeSlack, people: dict[str, str]) -> AsyncIterator[Stack]:
    channels = add_channels(slack)
    channels["releases"] = slack.add_channel("releases")
    config = {
        "channels": {"default": channels["default"], "releases": channels["releases"]},
        "admins": [people["admins"]],
    }
    async with running_app(database_url, slack, channels, config_overrides=config) as stack:
        yield stack


async def escalated(stack: Stack, issue_id: int, key: str, fix_versions: list[str]) -> None:
    """The card's problem escalated to Jira, resolved there with these fix versions."""

    def work(conn: Any) -> None:
        problem = conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalar_one()
        conn.execute(
            insert(escalations).values(
                problem_id=problem,
                state="created",
                jira_key=key,
                jira_url=f"https://acme.atlassian.net/browse/{key}",
                jira_status="Done",
                jira_resolution="Done",
                jira_fix_versions=fix_versions,
            )
        )

    await stack.runtime.database.transaction(work)


def submission(view: dict[str, Any], user: str, **answers: Any) -> dict[str, Any]:
    """A view_submission for the release modal the bot opened, with the person's answers."""
    submitted = copy.deepcopy(view)
    state: dict[str, Any] = {
        Block.RELEASE_VERSION: {INPUT: {"type": "plain_text_input", "value": answers.get("version")}},
        Block.RELEASE_DATE: {INPUT: {"type": "datepicker", "selected_date": answers.get("date")}},
        Block.RELEASE_TIME: {INPUT: {"type": "timepicker", "selected_time": answers.get("time")}},
        Block.RELEASE_SUMMARY: {INPUT: {"type": "plain_text_input", "value": answers.get("summary")}},
        Block.RELEASE_HIGHLIGHTS: {INPUT: {"type": "plain_text_input", "value": answers.get("highlights")}},
        Block.RELEASE_LINK: {INPUT: {"type": "url_text_input", "value": answers.get("link")}},
        Block.RELEASE_CHANNELS: {
            INPUT: {
                "type": "multi_conversations_select",
                "selected_conversations": answers.get("channels", []),
            }
        },
    }
    submitted["state"] = {"values": state}
    return {
        "type": "view_submission",
        "user": {"id": user, "username": "lead", "team_id": "T0"},
        "view": submitted,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }


async def deliver(stack: Stack, moment: datetime) -> int:
    """The scheduled check at `moment`, then the outbox sends what it enqueued."""
    sent = await check_releases(stack.runtime.database, stack.config, moment)
    stack.runtime.deliverer.wake()
    return sent


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


async def test_release_new_from_the_command_to_the_heads_up_release_day_and_watch(
    release_stack: Stack, people: dict[str, str]
) -> None:
    stack, admin = release_stack, people["admin"]
    releases_channel = stack.channels["releases"]
    issue_id, _card = await new_card(stack, subject="Invoices export times out")
    await escalated(stack, issue_id, "PROJ-7", ["2.3.0", "2.4.0"])

    response = await stack.slash_command(
        "new", user=admin, channel=stack.channels["feedback"], command="/release"
    )
    assert response.status == 200
    view = (await stack.slack.wait_for(lambda: stack.slack.modals, message="the release modal"))[0]
    modal = json.dumps(view["blocks"])
    assert "Time in Europe/Berlin" in modal and f'"initial_conversations": ["{releases_channel}"]' in modal

    day = (utcnow() + timedelta(days=3)).astimezone(BERLIN).date()
    answers = {
        "version": "2.4.0",
        "date": day.isoformat(),
        "time": "10:00",
        "summary": "Faster exports.",
        "highlights": "Invoices export in seconds\nNew <!channel> filter",
        "link": "https://example.test/releases/2.4.0",
        "channels": [releases_channel],
    }
    past = await stack.slack_interaction(submission(view, admin, **{**answers, "date": "2020-01-06"}))
    assert past.status == 200 and set((await past.json())["errors"]) == {Block.RELEASE_DATE}
    bad_link = await stack.slack_interaction(submission(view, admin, **{**answers, "link": "example.test"}))
    assert set((await bad_link.json())["errors"]) == {Block.RELEASE_LINK}

    stored = await stack.slack_interaction(submission(view, admin, **answers))
    answer = await stored.json()
    assert answer["response_action"] == "update" and "is scheduled for" in json.dumps(answer["view"])
    # Slack re-sending the same submission stores nothing more.
    assert (await stack.slack_interaction(submission(view, admin, **answers))).status == 200
    rows = await stack.runtime.database.transaction(lambda conn: conn.execute(select(releases)).all())
    release_at = local_at(day, time(10, 0), BERLIN)
    assert [(r.version, r.release_at, r.channels, r.created_by, r.source) for r in rows] == [
        ("2.4.0", release_at, [releases_channel], admin, "slack")
    ]

    assert await deliver(stack, release_at - timedelta(days=1)) == 1
    (heads_up,) = await stack.wait_for_cards(releases_channel, 1)
    assert heads_up["blocks"][0]["text"]["text"] == ":package: Coming up: 2.4.0"
    assert "PROJ-7" in shown(heads_up) and "&lt;!channel&gt; filter" in shown(heads_up)
    await click(stack, heads_up, Action.OPEN_RELEASE_LINK, admin)  # a URL button, acknowledged

    assert await deliver(stack, release_at + timedelta(seconds=20)) == 1
    day_post = (await stack.wait_for_cards(releases_channel, 2))[1]
    assert day_post["blocks"][0]["text"]["text"] == ":rocket: Released: 2.4.0"
    assert "Invoices export times out" in shown(day_post)
    assert "To tell (1 of 1): Dana Smith (Acme)" in shown(day_post)

    # The card's report came in five hours before the release; the watch counts it in the period before.
    await stack.runtime.database.transaction(
        lambda conn: conn.execute(
            update(issues).where(issues.c.id == issue_id).values(received_at=release_at - timedelta(hours=5))
        )
    )
    assert await deliver(stack, release_at + timedelta(hours=48, minutes=1)) == 1
    thread = await stack.slack.wait_for(
        lambda: stack.slack.thread(releases_channel, day_post["ts"])[1:], message="the watch in the thread"
    )
    assert "Post-release watch — 2.4.0" in shown(thread[0])
    assert "(the 2 days before: 1)" in shown(thread[0])
    # Nothing is posted twice, whatever runs again.
    for moment in (
        release_at - timedelta(hours=3),
        release_at + timedelta(hours=1),
        release_at + timedelta(days=2),
    ):
        assert await deliver(stack, moment) == 0
    assert len(stack.slack.messages(releases_channel)) == 2


async def test_release_new_is_for_admins(release_stack: Stack, people: dict[str, str]) -> None:
    stack = release_stack
    response = await stack.slash_command(
        "new", user=people["outsider"], channel=stack.channels["feedback"], command="/release"
    )
    assert response.status == 200
    assert "Only the Supportbridge admins" in await response.text()
    assert stack.slack.modals == []
    assert stack.slack.calls_to("usergroups.users.list")  # the admins' group was looked into


async def test_release_list_and_help_are_shown_to_the_asker(
    release_stack: Stack, people: dict[str, str]
) -> None:
    stack = release_stack
    empty = await stack.slash_command(
        "list", user=people["outsider"], channel=stack.channels["feedback"], command="/release"
    )
    assert "None scheduled" in await empty.text()
    await stack.runtime.database.transaction(
        lambda conn: conn.execute(
            insert(releases).values(
                version="2.5.0 <!here>",
                release_at=utcnow() + timedelta(days=2),
                channels=[stack.channels["releases"]],
                source="slack",
                status="scheduled",
            )
        )
    )
    listed = await stack.slash_command(
        "list", user=people["outsider"], channel=stack.channels["feedback"], command="/release"
    )
    answer = await listed.json()
    text = json.dumps(answer["blocks"])
    assert "2.5.0 &lt;!here&gt;" in text and "<!here>" not in text
    assert "response_type" not in answer or answer["response_type"] == "ephemeral"
    usage = await stack.slash_command(
        "bogus", user=people["outsider"], channel=stack.channels["feedback"], command="/release"
    )
    assert "/release new" in await usage.text()


# -- from Jira -----------------------------------------------------------------------------------------


@pytest.fixture
async def jira_release_stack(
    database_url: str, slack: FakeSlack, jira: FakeJira, people: dict[str, str]
) -> AsyncIterator[Stack]:
    channels = add_channels(slack)
    channels["releases"] = slack.add_channel("releases")
    settings = {
        "jira_url": jira.url,
        "jira_email": jira.email,
        "jira_api_token": jira.api_token,
        "jira_webhook_secret": JIRA_WEBHOOK_SECRET,
    }
    config = {
        "channels": {"default": channels["default"], "releases": channels["releases"]},
        "jira": {"project": "PROJ"},
        "releases": {"jira_projects": ["PROJ"]},
    }
    async with running_app(
        database_url, slack, channels, settings_overrides=settings, config_overrides=config
    ) as stack:
        stack.extra["jira"] = jira
        yield stack


async def test_a_version_released_in_jira_is_announced_at_once(
    jira_release_stack: Stack, jira: FakeJira
) -> None:
    stack = jira_release_stack
    releases_channel = stack.channels["releases"]
    issue_id, _card = await new_card(stack, subject="SSO fails after password reset")
    await escalated(stack, issue_id, "PROJ-3", ["2.4.0"])
    jira.add_version("PROJ", "2.4.0", description="SSO and export fixes")
    jira.release_version("PROJ", "2.4.0", release_date=date.today())

    payload = jira.version_webhook_payload("jira:version_released", "PROJ", "2.4.0")
    response = await stack.jira_webhook(payload, identifier="wh-version-1")
    assert response.status == 200 and (await response.json()) == {"result": "created"}
    (day_post,) = await stack.wait_for_cards(releases_channel, 1)
    assert day_post["blocks"][0]["text"]["text"] == ":rocket: Released: 2.4.0"
    assert "PROJ-3" in shown(day_post) and "SSO and export fixes" in shown(day_post)
    assert "From Jira version 2.4.0 in PROJ" in shown(day_post)

    again = await stack.jira_webhook(payload, identifier="wh-version-1")  # Jira's retry
    assert (await again.json()) == {"result": "duplicate"}
    later = await stack.jira_webhook(payload, identifier="wh-version-2")  # released twice in Jira
    assert (await later.json()) == {"result": "unchanged"}

    jira.add_project("OTHER")
    jira.add_version("OTHER", "9.0")
    other = await stack.jira_webhook(jira.version_webhook_payload("jira:version_released", "OTHER", "9.0"))
    assert (await other.json())["ignored"] is True
    malformed = await stack.jira_webhook({"webhookEvent": "jira:version_released", "version": {"id": "1"}})
    assert malformed.status == 400
    assert await deliver(stack, utcnow() + timedelta(minutes=1)) == 0
    assert len(stack.slack.messages(releases_channel)) == 1


async def test_jira_versions_with_a_date_are_announced_and_follow_their_date(
    jira_release_stack: Stack, jira: FakeJira
) -> None:
    stack = jira_release_stack
    releases_channel = stack.channels["releases"]
    day = (utcnow() + timedelta(days=3)).astimezone(BERLIN).date()
    jira.add_version("PROJ", "3.0.0", release_date=day, description="The big one")
    assert await sync_jira_releases(stack.runtime.database, stack.config, stack.runtime.jira) == 1
    release_at = local_at(day, time(10, 0), BERLIN)  # releases.release_time, 10:00 by default

    assert await deliver(stack, release_at - timedelta(hours=23)) == 1
    (heads_up,) = await stack.wait_for_cards(releases_channel, 1)
    assert "The big one" in shown(heads_up) and f"<!date^{int(release_at.timestamp())}^" in shown(heads_up)

    # The date moves in Jira: the heads-up already posted shows the new date, in place.
    moved = day + timedelta(days=2)
    jira.release_version("PROJ", "3.0.0", release_date=moved, released=False)
    assert await sync_jira_releases(stack.runtime.database, stack.config, stack.runtime.jira) == 1
    stack.runtime.deliverer.wake()
    new_time = int(local_at(moved, time(10, 0), BERLIN).timestamp())
    await stack.slack.wait_for(
        lambda: f"<!date^{new_time}^" in shown(stack.slack.message(releases_channel, heads_up["ts"])),
        message="the heads-up re-rendered with the new date",
    )
    assert len(stack.slack.messages(releases_channel)) == 1
