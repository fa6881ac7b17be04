"""Release announcements on SQLite and PostgreSQL, with the clock in the test's hands: when the heads-up,
release-day and watch posts are due (each once, also after a restart and with concurrent runs), the
customer problems a release fixes and who is still to tell, the watch's counts and its rise rule,
Jira versions becoming releases, the modal's validation, and the views' exact output."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.intake import IntakeRequest
from bot.domain.releases import AreaCount, FixedProblem, ReleaseDraft, ReleaseSummary, WatchReport
from bot.ids import INPUT, Block
from bot.services import escalation, triage
from bot.services.intake import ingest_issue
from bot.services.releases import (
    DAY,
    HEADS_UP,
    WATCH,
    ReleaseExists,
    apply_project_versions,
    apply_version_released,
    complaint_counts,
    create_release,
    fixed_problems,
    load_release,
    post_key,
    recent_releases,
    rose,
    upcoming_releases,
    watch_report,
)
from bot.services.runs import MISFIRE_GRACE_SECONDS
from bot.views.releases import (
    render_heads_up,
    render_release_cancelled,
    render_release_day,
    render_release_list,
    render_release_modal,
    render_release_scheduled,
    render_watch,
)
from db.models import customers, escalations, issues, outbox_items, posted_messages, releases, utcnow
from db.session import Database
from handlers.payload import View
from handlers.releases import parse_release_submission
from integrations.jira_client import JiraGateway, JiraVersion
from integrations.jira_webhook import JiraVersionEvent, MalformedWebhook, is_ignored, parse_event
from sandbox.fakes.contracts import block_kit_problems, contracts_dir, contracts_missing_reason, view_problems
from sandbox.fakes.jira_api import FakeJira
from schedules.releases import check_releases, sync_jira_releases
from tests.conftest import CHANNEL_DEFAULT

BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday 24 November 2026, 10:00 in Berlin (09:00 UTC).
RELEASE_AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CREATED = RELEASE_AT - timedelta(days=5)
RELEASES = "C0RELEASE01"
SUPPORT = "C0SUPPORT02"
ADMIN = "U0ADMIN0001"
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def config(make_config: Any) -> AppConfig:
    return make_config(
        channels={"default": CHANNEL_DEFAULT, "releases": RELEASES},
        releases={"jira_projects": ["PROJ"], "rise_min": 3, "rise_ratio": 1.5},
    )


def draft(**overrides: Any) -> ReleaseDraft:
    values: dict[str, Any] = {
        "version": "2.4.0",
        "release_at": RELEASE_AT,
        "summary": "Faster exports and a fix for SSO logins.",
        "highlights": "Invoices export in seconds\n- SSO works after a password reset",
        "link": "https://example.test/releases/2.4.0",
        "channels": (RELEASES, SUPPORT),
    }
    values.update(overrides)
    return ReleaseDraft(**values)


async def new_release(database: Database, **overrides: Any) -> int:
    planned = draft(**overrides)
    return await database.transaction(lambda conn: create_release(conn, planned, ADMIN, CREATED))


async def queued(database: Database) -> list[dict[str, Any]]:
    """The keyed posts waiting in the outbox, oldest first."""

    def load(conn: Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(outbox_items.c.payload).where(outbox_items.c.kind == "post").order_by(outbox_items.c.id)
        )
        return [dict(row.payload) for row in rows]

    return await database.transaction(load)


async def keys(database: Database) -> list[str]:
    return [str(p["key"]) for p in await queued(database)]


async def mark_posted(database: Database, key: str, channel: str) -> None:
    """What the outbox records once Slack took a keyed post."""
    await database.transaction(
        lambda conn: conn.execute(
            insert(posted_messages).values(
                key=key, channel=channel, ts="1700000000.000100", created_at=utcnow()
            )
        )
    )


async def status_of(database: Database, release_id: int) -> str:
    release = await database.transaction(lambda conn: load_release(conn, release_id))
    assert release is not None
    return release.status


# -- when each post is due -----------------------------------------------------------------------------


async def test_heads_up_then_release_day_then_watch_each_once_per_channel(
    database: Database, config: AppConfig
) -> None:
    release_id = await new_release(database)
    heads_up = RELEASE_AT - timedelta(days=1)
    assert await check_releases(database, config, heads_up - timedelta(seconds=1)) == 0
    assert await check_releases(database, config, heads_up) == 2
    assert await check_releases(database, config, heads_up + timedelta(minutes=1)) == 0
    assert await keys(database) == [post_key(HEADS_UP, release_id, c) for c in (RELEASES, SUPPORT)]
    assert await status_of(database, release_id) == "scheduled"

    assert await check_releases(database, config, RELEASE_AT - timedelta(seconds=1)) == 0
    assert await check_releases(database, config, RELEASE_AT) == 2
    assert await check_releases(database, config, RELEASE_AT + timedelta(hours=3)) == 0
    assert await status_of(database, release_id) == "released"
    day_keys = [post_key(DAY, release_id, c) for c in (RELEASES, SUPPORT)]
    assert (await keys(database))[2:] == day_keys

    watch_due = RELEASE_AT + timedelta(hours=48)
    # The watch replies in the release-day post's thread: only where that post went out.
    assert await check_releases(database, config, watch_due) == 0
    await mark_posted(database, day_keys[0], RELEASES)
    assert await check_releases(database, config, watch_due + timedelta(minutes=1)) == 1
    await mark_posted(database, day_keys[1], SUPPORT)
    assert await check_releases(database, config, watch_due + timedelta(minutes=2)) == 1
    assert await check_releases(database, config, watch_due + timedelta(hours=2)) == 0
    watches = (await queued(database))[4:]
    assert [(p["key"], p["thread"], p["render"]) for p in watches] == [
        (post_key(WATCH, release_id, RELEASES), day_keys[0], WATCH),
        (post_key(WATCH, release_id, SUPPORT), day_keys[1], WATCH),
    ]


async def test_posts_missed_during_a_restart_still_go_out_once(database: Database, config: AppConfig) -> None:
    release_id = await new_release(database, channels=(RELEASES,))
    late = timedelta(seconds=MISFIRE_GRACE_SECONDS - 30)  # no process ran the check for ~10 minutes
    assert await check_releases(database, config, RELEASE_AT - timedelta(days=1) + late) == 1
    assert await check_releases(database, config, RELEASE_AT - timedelta(days=1) + late) == 0
    assert await check_releases(database, config, RELEASE_AT + late) == 1
    assert await check_releases(database, config, RELEASE_AT + late + timedelta(seconds=30)) == 0
    await mark_posted(database, post_key(DAY, release_id, RELEASES), RELEASES)
    assert await check_releases(database, config, RELEASE_AT + timedelta(hours=48) + late) == 1
    assert await check_releases(database, config, RELEASE_AT + timedelta(hours=49)) == 0
    assert await keys(database) == [post_key(job, release_id, RELEASES) for job in (HEADS_UP, DAY, WATCH)]


async def test_a_heads_up_whose_time_passed_goes_out_while_the_release_is_ahead(
    database: Database, config: AppConfig
) -> None:
    release_id = await new_release(database, channels=(RELEASES,))
    # Hours late (a long outage, or a release added less than a day ahead): still news.
    assert await check_releases(database, config, RELEASE_AT - timedelta(hours=2)) == 1
    assert await keys(database) == [post_key(HEADS_UP, release_id, RELEASES)]


async def test_once_the_release_time_has_come_only_the_release_day_post_goes_out(
    database: Database, config: AppConfig
) -> None:
    release_id = await new_release(database, channels=(RELEASES,))
    assert await check_releases(database, config, RELEASE_AT + timedelta(minutes=3)) == 1
    assert await keys(database) == [post_key(DAY, release_id, RELEASES)]
    # Long after the watch's time (the process was down for days): nothing stale is posted.
    other = await new_release(database, version="2.5.0", channels=(RELEASES,))
    assert await check_releases(database, config, RELEASE_AT + timedelta(days=4)) == 0
    assert post_key(DAY, other, RELEASES) not in await keys(database)


async def test_the_heads_up_keeps_the_wall_time_across_a_daylight_saving_change(
    database: Database, make_config: Any
) -> None:
    config = make_config(channels={"default": CHANNEL_DEFAULT, "releases": RELEASES})
    # Sunday 29 March 2026, 10:00 CEST (08:00 UTC); the clocks went forward at 02:00 that night.
    sunday = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    await new_release(database, release_at=sunday, channels=(RELEASES,))
    saturday_ten = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)  # 10:00 CET: 23 real hours before
    assert saturday_ten == sunday - timedelta(hours=23)
    # 24 real hours before would be 09:00 on Saturday: too early.
    assert await check_releases(database, config, sunday - timedelta(hours=24)) == 0
    assert await check_releases(database, config, saturday_ten - timedelta(seconds=1)) == 0
    assert await check_releases(database, config, saturday_ten) == 1


async def test_a_cancelled_release_posts_nothing(database: Database, config: AppConfig) -> None:
    release_id = await new_release(database)
    await database.transaction(
        lambda conn: conn.execute(
            update(releases).where(releases.c.id == release_id).values(status="cancelled")
        )
    )
    for moment in (RELEASE_AT - timedelta(hours=20), RELEASE_AT, RELEASE_AT + timedelta(hours=48)):
        assert await check_releases(database, config, moment) == 0
    assert await queued(database) == []


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_concurrent_runs_on_postgresql_post_each_once(database_url: str, config: AppConfig) -> None:
    # Two processes (each its own engine and pool), each running the check several times at once.
    databases = [Database(database_url), Database(database_url)]
    try:
        release_id = await new_release(databases[0])
        later = await new_release(databases[0], version="2.5.0", release_at=RELEASE_AT + timedelta(hours=2))
        moment = RELEASE_AT + timedelta(minutes=5)  # 2.4.0's day, 2.5.0's heads-up
        sent = await asyncio.gather(*(check_releases(db, config, moment) for db in databases * 4))
        assert sum(sent) == 4
        assert sorted(await keys(databases[0])) == sorted(
            [post_key(DAY, release_id, c) for c in (RELEASES, SUPPORT)]
            + [post_key(HEADS_UP, later, c) for c in (RELEASES, SUPPORT)]
        )
    finally:
        for db in databases:
            await db.dispose()


# -- stored releases ---------------------------------------------------------------------------------


async def test_the_same_version_cannot_be_scheduled_twice(database: Database) -> None:
    await new_release(database)
    with pytest.raises(ReleaseExists, match=r"2\.4\.0 is already scheduled"):
        await new_release(database, release_at=RELEASE_AT + timedelta(days=7))
    assert await new_release(database, version="2.4.1")


async def test_upcoming_and_recent_releases(database: Database) -> None:
    now = RELEASE_AT
    old = await new_release(database, version="2.2.0", release_at=now - timedelta(days=31))
    recent = await new_release(database, version="2.3.0", release_at=now - timedelta(days=3))
    soon = await new_release(database, version="2.4.0", release_at=now + timedelta(days=1))
    later = await new_release(database, version="2.5.0", release_at=now + timedelta(days=9))
    cancelled = await new_release(database, version="2.6.0", release_at=now + timedelta(days=2))
    await database.transaction(
        lambda conn: conn.execute(
            update(releases).where(releases.c.id == cancelled).values(status="cancelled")
        )
    )
    upcoming = await database.transaction(lambda conn: upcoming_releases(conn, now, limit=5))
    assert [r.id for r in upcoming] == [soon, later]
    assert upcoming[0] == ReleaseSummary(
        id=soon,
        version="2.4.0",
        release_at=now + timedelta(days=1),
        status="scheduled",
        source="slack",
        summary="Faster exports and a fix for SSO logins.",
        highlights="Invoices export in seconds\n- SSO works after a password reset",
        link="https://example.test/releases/2.4.0",
        channels=(RELEASES, SUPPORT),
        jira_project=None,
    )
    assert [r.id for r in await database.transaction(lambda conn: upcoming_releases(conn, now, limit=1))] == [
        soon
    ]
    past = await database.transaction(lambda conn: recent_releases(conn, now))
    assert [r.id for r in past] == [recent]
    assert old not in [r.id for r in past]


# -- what a release fixes ------------------------------------------------------------------------------


async def report(
    database: Database, config: AppConfig, subject: str, email: str, *, name: str, company: str | None = None
) -> int:
    customer: dict[str, Any] = {"id": email, "email": email, "name": name}
    if company:
        customer["company"] = company
    request = IntakeRequest.model_validate(
        {
            "external_id": f"{subject}:{email}",
            "source": "webform",
            "subject": subject,
            "body": "It does not work.",
            "customer": customer,
        }
    )
    return (await ingest_issue(database, config, request)).issue_id


async def problem_of(database: Database, issue_id: int) -> int:
    return await database.transaction(
        lambda conn: conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalar_one()
    )


async def escalate(database: Database, problem_id: int, key: str, fix_versions: list[str]) -> None:
    await database.transaction(
        lambda conn: conn.execute(
            insert(escalations).values(
                problem_id=problem_id,
                state="created",
                jira_key=key,
                jira_url=f"https://acme.atlassian.net/browse/{key}",
                jira_status="Done",
                jira_resolution="Done",
                jira_fix_versions=fix_versions,
            )
        )
    )


async def customer_id(database: Database, email: str) -> int:
    return await database.transaction(
        lambda conn: conn.execute(select(customers.c.id).where(customers.c.email == email)).scalar_one()
    )


async def test_the_problems_a_version_fixes_with_the_customers_still_to_tell(
    database: Database, config: AppConfig
) -> None:
    export = await report(database, config, "Export times out", "dana@acme.test", name="Dana", company="Acme")
    merged = await report(database, config, "Export never ends", "lee@globex.test", name="Lee")
    told = await report(database, config, "Export times out", "kim@initech.test", name="Kim")
    export_problem = await problem_of(database, export)
    for issue_id in (merged, told):
        await triage.run(database, triage.merge, issue_id, ADMIN, export_problem)
    await escalate(database, export_problem, "PROJ-7", ["2.3.0", "2.4.0"])
    kim = await customer_id(database, "kim@initech.test")
    await database.transaction(lambda conn: escalation.mark_notified(conn, export_problem, kim, ADMIN))

    login = await report(database, config, "SSO fails", "ana@hooli.test", name="Ana")
    login_problem = await problem_of(database, login)
    await escalate(database, login_problem, "PROJ-9", ["2.4.0"])
    await database.transaction(lambda conn: escalation.mark_notified(conn, login_problem, None, ADMIN))
    # Not this version: a prefix of another name, or another project's version of the same name.
    near = await report(database, config, "Near miss", "x@y.test", name="X")
    await escalate(database, await problem_of(database, near), "PROJ-11", ["2.4.0-beta", "12.4.0"])
    other = await report(database, config, "Other team", "o@p.test", name="O")
    await escalate(database, await problem_of(database, other), "WEB-3", ["2.4.0"])

    found = await database.transaction(lambda conn: fixed_problems(conn, "2.4.0", "PROJ"))
    assert found == [
        FixedProblem(
            problem_id=export_problem,
            issue_id=export,
            subject="Export times out",
            jira_key="PROJ-7",
            jira_url="https://acme.atlassian.net/browse/PROJ-7",
            card_channel=None,
            card_permalink=None,
            customers=3,
            to_tell=("Dana (Acme)", "Lee"),
        ),
        FixedProblem(
            problem_id=login_problem,
            issue_id=login,
            subject="SSO fails",
            jira_key="PROJ-9",
            jira_url="https://acme.atlassian.net/browse/PROJ-9",
            card_channel=None,
            card_permalink=None,
            customers=1,
            to_tell=(),
        ),
    ]
    # A release without a Jira project takes the version from every project.
    anywhere = await database.transaction(lambda conn: fixed_problems(conn, "2.4.0", None))
    assert [p.jira_key for p in anywhere] == ["PROJ-7", "WEB-3", "PROJ-9"]  # most to tell first
    assert await database.transaction(lambda conn: fixed_problems(conn, "2.4", None)) == []


# -- the post-release watch ----------------------------------------------------------------------------


async def complaints(
    database: Database, config: AppConfig, area: str | None, at: datetime, count: int
) -> None:
    for n in range(count):
        request = IntakeRequest.model_validate(
            {
                "external_id": f"{area}-{at.isoformat()}-{n}",
                "source": "webform",
                "subject": f"Trouble with {area}",
                "body": "Broken since the update.",
                "customer": {"id": f"c-{area}-{n}", "email": f"c{n}@{area or 'none'}.test"},
                "product_area": area,
            }
        )
        issue_id = (await ingest_issue(database, config, request)).issue_id
        await database.transaction(
            lambda conn, issue_id=issue_id: conn.execute(
                update(issues).where(issues.c.id == issue_id).values(received_at=at)
            )
        )


def test_the_rise_rule(config: AppConfig) -> None:
    rule = config.releases  # at least 3 new complaints and at least 1.5 times as many as before
    assert rose(0, 3, rule) and rose(2, 3, rule) and rose(10, 15, rule)
    assert not rose(0, 2, rule)  # too few to say
    assert not rose(4, 5, rule)  # more, but not 1.5 times
    assert not rose(5, 0, rule)


async def test_the_watch_counts_new_complaints_by_area_in_one_aggregate(
    database: Database, config: AppConfig
) -> None:
    release_id = await new_release(database)
    before, after = RELEASE_AT - timedelta(hours=5), RELEASE_AT + timedelta(hours=5)
    await complaints(database, config, "billing", after, 3)  # 0 before: rose
    await complaints(database, config, "login", before, 2)
    await complaints(database, config, "login", after, 3)  # 2 -> 3: exactly 1.5 times, rose
    await complaints(database, config, "reporting", before, 4)
    await complaints(database, config, "reporting", after, 5)  # 4 -> 5: not enough
    await complaints(database, config, None, after, 1)
    await complaints(database, config, "billing", RELEASE_AT - timedelta(hours=49), 7)  # outside both
    await complaints(database, config, "billing", RELEASE_AT + timedelta(hours=48), 7)  # after the watch
    await complaints(database, config, "login", RELEASE_AT, 1)  # at the release: after it

    statements: list[str] = []

    def counted(conn: Connection) -> list[tuple[str | None, int, int]]:
        def seen(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(conn, "before_cursor_execute", seen)
        try:
            return complaint_counts(
                conn, RELEASE_AT - timedelta(hours=48), RELEASE_AT, RELEASE_AT + timedelta(hours=48)
            )
        finally:
            event.remove(conn, "before_cursor_execute", seen)

    counts = await database.transaction(counted)
    assert sorted(counts, key=lambda c: c[0] or "") == [
        (None, 0, 1),
        ("billing", 0, 3),
        ("login", 2, 4),
        ("reporting", 4, 5),
    ]
    assert len(statements) == 1 and "GROUP BY" in statements[0].upper()

    release = await database.transaction(lambda conn: load_release(conn, release_id))
    assert release is not None
    report_ = await database.transaction(
        lambda conn: watch_report(conn, release, RELEASE_AT + timedelta(hours=48), config.releases)
    )
    assert report_.period == timedelta(hours=48)
    assert report_.areas == (
        AreaCount("login", 2, 4, rose=True),
        AreaCount("billing", 0, 3, rose=True),
        AreaCount("reporting", 4, 5, rose=False),
        AreaCount(None, 0, 1, rose=False),
    )
    assert (report_.before_total, report_.after_total) == (6, 13)


# -- Jira versions ----------------------------------------------------------------------------------------


def version(version_id: str, name: str, **overrides: Any) -> JiraVersion:
    values: dict[str, Any] = {
        "id": version_id,
        "name": name,
        "released": False,
        "archived": False,
        "release_date": None,
        "description": None,
        "project_id": "10000",
    }
    values.update(overrides)
    return JiraVersion(**values)


async def follow(
    database: Database, config: AppConfig, versions: list[JiraVersion], now: datetime
) -> list[tuple[int, str]]:
    changes = await database.transaction(
        lambda conn: apply_project_versions(conn, "PROJ", versions, channel=RELEASES, config=config, now=now)
    )
    return [(c.release_id, c.outcome) for c in changes]


async def jira_releases(database: Database) -> list[Any]:
    return await database.transaction(
        lambda conn: conn.execute(
            select(releases).where(releases.c.source == "jira").order_by(releases.c.id)
        ).all()
    )


async def test_jira_versions_with_a_date_become_releases_and_follow_the_version(
    database: Database, config: AppConfig
) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    listed = [
        version("10010", "2.4.0", release_date=date(2026, 11, 24), description="Faster exports"),
        version("10011", "2.5.0"),  # no date: not a release yet
        version("10012", "2.3.0", released=True, release_date=date(2026, 11, 1)),  # history
        version("10013", "2.2.9", release_date=date(2026, 11, 2)),  # overdue: not announced late
        version("10014", "old", archived=True, release_date=date(2026, 12, 1)),
    ]
    changes = await follow(database, config, listed, now)
    (row,) = await jira_releases(database)
    assert changes == [(row.id, "created")]
    # releases.release_time (10:00 by default) on that day, in Europe/Berlin.
    assert (row.version, row.release_at, row.status, row.summary) == (
        "2.4.0",
        RELEASE_AT,
        "scheduled",
        "Faster exports",
    )
    assert (row.channels, row.jira_project, row.jira_version_id) == ([RELEASES], "PROJ", "10010")
    assert await follow(database, config, listed, now) == []  # nothing changed

    # The heads-up went out; then Jira moves the date: the posted heads-up is re-rendered in place.
    assert await check_releases(database, config, RELEASE_AT - timedelta(days=1)) == 1
    moved = [version("10010", "2.4.0", release_date=date(2026, 11, 26), description="Faster exports")]
    assert await follow(database, config, moved, now) == [(row.id, "rescheduled")]
    edit = (await queued(database))[-1]
    assert (edit["key"], edit.get("edit"), edit["args"]) == (
        post_key(HEADS_UP, row.id, RELEASES),
        True,
        {"release": row.id, "edit": True},
    )
    (moved_row,) = await jira_releases(database)
    assert moved_row.release_at == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    # Its date cleared: cancelled. A date again: back on the schedule. Deleted in Jira: cancelled.
    assert await follow(database, config, [version("10010", "2.4.0")], now) == [(row.id, "cancelled")]
    again = [version("10010", "2.4.0", release_date=date(2026, 11, 27))]
    assert await follow(database, config, again, now) == [(row.id, "rescheduled")]
    assert await follow(database, config, [], now) == [(row.id, "cancelled")]


async def test_a_slack_release_of_the_same_name_is_linked_not_doubled(
    database: Database, config: AppConfig
) -> None:
    release_id = await new_release(database, release_at=RELEASE_AT + timedelta(hours=6))
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    listed = [version("10010", "2.4.0", release_date=date(2026, 11, 24))]
    assert await follow(database, config, listed, now) == []
    rows = await database.transaction(lambda conn: conn.execute(select(releases)).all())
    assert [(r.id, r.source, r.jira_version_id, r.jira_project) for r in rows] == [
        (release_id, "slack", "10010", "PROJ")
    ]
    assert rows[0].release_at == RELEASE_AT + timedelta(hours=6)  # the time set in Slack stands


async def test_a_released_version_is_released_now(database: Database, config: AppConfig) -> None:
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a day early
    planned = [version("10010", "2.4.0", release_date=date(2026, 11, 24))]
    await follow(database, config, planned, datetime(2026, 11, 20, tzinfo=UTC))
    released = version("10010", "2.4.0", released=True, release_date=date(2026, 11, 24))

    def release(conn: Connection, moment: datetime) -> str:
        return apply_version_released(conn, released, project="PROJ", channel=RELEASES, now=moment).outcome

    assert await database.transaction(lambda conn: release(conn, now)) == "released"
    (row,) = await jira_releases(database)
    assert (row.status, row.release_at) == ("released", now)
    assert await database.transaction(lambda conn: release(conn, now + timedelta(minutes=5))) == "unchanged"
    # Released in Jira before the bot ever saw the version: a release of now.
    unknown = version("10020", "2.4.1", released=True)
    outcome = await database.transaction(
        lambda conn: apply_version_released(conn, unknown, project="PROJ", channel=RELEASES, now=now)
    )
    assert outcome.outcome == "created"
    assert await check_releases(database, config, now) == 2  # both release-day posts, at once
    assert sorted(await keys(database)) == sorted(
        [post_key(DAY, row.id, RELEASES), post_key(DAY, outcome.release_id, RELEASES)]
    )


def test_the_version_released_webhook_is_parsed() -> None:
    # As Atlassian documents it: the version as REST renders it, its project named by id only.
    body = {
        "timestamp": 1795510800000,
        "webhookEvent": "jira:version_released",
        "version": {
            "self": "https://acme.atlassian.net/rest/api/2/version/10010",
            "id": "10010",
            "description": "Faster exports",
            "name": "2.4.0",
            "archived": False,
            "released": True,
            "releaseDate": "2026-11-24",
            "overdue": False,
            "userReleaseDate": "24/Nov/26",
            "projectId": 10000,
        },
    }
    assert parse_event(json.dumps(body).encode()) == JiraVersionEvent(
        kind="released",
        version=version(
            "10010", "2.4.0", released=True, release_date=date(2026, 11, 24), description="Faster exports"
        ),
        timestamp=1795510800000,
    )
    body["version"] = {"id": 10011, "name": " 2.5.0 ", "releaseDate": "soon", "description": ""}
    parsed = parse_event(json.dumps(body).encode())
    assert isinstance(parsed, JiraVersionEvent)
    assert (parsed.version.id, parsed.version.name, parsed.version.release_date) == ("10011", "2.5.0", None)
    assert parsed.version.project_id is None and parsed.version.description is None
    for broken in ({}, {"id": "1"}, {"name": "2.4.0"}, {"id": True, "name": "x"}):
        with pytest.raises(MalformedWebhook, match=r"without version\.id and version\.name"):
            parse_event(json.dumps({"webhookEvent": "jira:version_released", "version": broken}).encode())
    assert not is_ignored("jira:version_released")


@pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())
async def test_versions_are_read_from_jira(database: Database, config: AppConfig) -> None:
    async with FakeJira() as jira:
        jira.add_version("PROJ", "2.4.0", release_date=date(2026, 11, 24), description="Faster exports")
        jira.add_version("PROJ", "2.3.0", released=True, release_date=date(2026, 11, 1))
        gateway = JiraGateway(jira.url, jira.email, jira.api_token, timeout=2)
        versions = await gateway.project_versions("PROJ")
        assert [(v.name, v.released, v.release_date, v.description) for v in versions] == [
            ("2.4.0", False, date(2026, 11, 24), "Faster exports"),
            ("2.3.0", True, date(2026, 11, 1), None),
        ]
        project = await gateway.project(versions[0].project_id or "")
        assert project is not None and project.key == "PROJ"
        assert await gateway.project("999") is None
        changed = await sync_jira_releases(database, config, gateway, datetime(2026, 11, 20, tzinfo=UTC))
        assert changed == 1
        assert [(r.version, r.release_at) for r in await jira_releases(database)] == [("2.4.0", RELEASE_AT)]
        # Jira down: logged, nothing changes, the next run tries again.
        jira.fail("GET project/*/versions", status=503, retry_after=5)
        assert await sync_jira_releases(database, config, gateway, datetime(2026, 11, 20, tzinfo=UTC)) == 0
        # Without a releases channel there is nowhere to announce: nothing is read.
        quiet = config.model_copy(update={"channels": config.channels.model_copy(update={"releases": None})})
        calls = len(jira.calls)
        assert await sync_jira_releases(database, quiet, gateway) == 0
        assert len(jira.calls) == calls
        jira.assert_no_violations()


# -- the modal -----------------------------------------------------------------------------------------


def submitted(**values: Any) -> View:
    state: dict[str, Any] = {
        Block.RELEASE_VERSION: {
            INPUT: {"type": "plain_text_input", "value": values.get("version", " 2.4.0 ")}
        },
        Block.RELEASE_DATE: {
            INPUT: {"type": "datepicker", "selected_date": values.get("date", "2026-11-24")}
        },
        Block.RELEASE_TIME: {INPUT: {"type": "timepicker", "selected_time": values.get("time", "10:00")}},
        Block.RELEASE_SUMMARY: {INPUT: {"type": "plain_text_input", "value": values.get("summary")}},
        Block.RELEASE_HIGHLIGHTS: {INPUT: {"type": "plain_text_input", "value": values.get("highlights")}},
        Block.RELEASE_LINK: {INPUT: {"type": "url_text_input", "value": values.get("link")}},
        Block.RELEASE_CHANNELS: {
            INPUT: {
                "type": "multi_conversations_select",
                "selected_conversations": values.get("channels", [RELEASES]),
            }
        },
    }
    return View.of({"id": "V0000000001", "state": {"values": state}}, user_id="U0ADMIN01")


def test_the_modal_is_read_in_the_configured_time_zone() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    parsed = parse_release_submission(
        submitted(
            summary="Faster exports",
            link="https://example.test/notes",
            channels=[RELEASES, SUPPORT, RELEASES],
        ),
        BERLIN,
        now,
    )
    assert parsed == ReleaseDraft(
        version="2.4.0",
        release_at=RELEASE_AT,  # 10:00 in Berlin in November is 09:00 UTC
        summary="Faster exports",
        highlights=None,
        link="https://example.test/notes",
        channels=(RELEASES, SUPPORT),
    )
    summer = parse_release_submission(submitted(date="2027-07-01"), BERLIN, now)  # CEST: UTC+2
    assert isinstance(summer, ReleaseDraft) and summer.release_at == datetime(2027, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({"version": "  "}, {Block.RELEASE_VERSION}),
        ({"version": "x" * 129}, {Block.RELEASE_VERSION}),
        ({"date": None, "time": None}, {Block.RELEASE_DATE, Block.RELEASE_TIME}),
        ({"date": "24/11/2026"}, {Block.RELEASE_DATE}),
        ({"link": "javascript:alert(1)"}, {Block.RELEASE_LINK}),
        ({"link": "ftp://example.test/notes"}, {Block.RELEASE_LINK}),
        ({"channels": []}, {Block.RELEASE_CHANNELS}),
        ({"channels": ["U0AGENT0001"]}, {Block.RELEASE_CHANNELS}),
        ({"date": "2026-11-19"}, {Block.RELEASE_DATE}),  # yesterday
        ({"date": "2026-11-20", "time": "12:59"}, {Block.RELEASE_TIME}),  # earlier today (13:00 Berlin)
    ],
)
def test_the_modal_refuses_what_cannot_be_announced(values: dict[str, Any], errors: set[str]) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    parsed = parse_release_submission(submitted(**values), BERLIN, now)
    assert isinstance(parsed, dict) and set(parsed) == errors
    assert all(parsed.values())


# -- the views (golden) -----------------------------------------------------------------------------------


def assert_golden(name: str, value: object) -> None:
    path = GOLDEN / f"{name}.json"
    rendered = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"golden file {path.name} missing: run with UPDATE_GOLDEN=1 once and review it"
    assert rendered == path.read_text(encoding="utf-8")


def summary(**overrides: Any) -> ReleaseSummary:
    values: dict[str, Any] = {
        "id": 4,
        "version": "2.4.0",
        "release_at": RELEASE_AT,
        "status": "scheduled",
        "source": "slack",
        "summary": "Faster exports and a fix for SSO logins.",
        "highlights": "Invoices export in seconds\n\n- SSO works after a password reset",
        "link": "https://example.test/releases/2.4.0",
        "channels": (RELEASES,),
        "jira_project": None,
    }
    values.update(overrides)
    return ReleaseSummary(**values)


def fixed(n: int, **overrides: Any) -> FixedProblem:
    values: dict[str, Any] = {
        "problem_id": n,
        "issue_id": 40 + n,
        "subject": f"Export times out ({n})",
        "jira_key": f"PROJ-{n}",
        "jira_url": f"https://acme.atlassian.net/browse/PROJ-{n}",
        "card_channel": CHANNEL_DEFAULT,
        "card_permalink": f"https://acme.slack.com/archives/{CHANNEL_DEFAULT}/p170000000000{n:04d}",
        "customers": 3,
        "to_tell": ("Dana Smith (Acme)", "Lee"),
    }
    values.update(overrides)
    return FixedProblem(**values)


def assert_message(blocks: list[dict[str, Any]], text: str) -> None:
    assert block_kit_problems(blocks) == []
    assert 0 < len(text) <= 300


def test_heads_up_post(config: AppConfig) -> None:
    blocks, text = render_heads_up(summary(), [fixed(7), fixed(9, to_tell=())], BERLIN)
    assert_message(blocks, text)
    assert_golden("release_heads_up", {"text": text, "blocks": blocks})


def test_release_day_post(config: AppConfig) -> None:
    problems = [
        fixed(7),
        fixed(9, to_tell=(), card_permalink=None),
        fixed(11, jira_url=None, card_channel=None, card_permalink=None),
    ]
    blocks, text = render_release_day(
        summary(status="released", source="jira", jira_project="PROJ"), problems, config.releases, BERLIN
    )
    assert_message(blocks, text)
    assert_golden("release_day", {"text": text, "blocks": blocks})


def test_release_day_post_without_fixed_problems_or_details(config: AppConfig) -> None:
    bare = summary(summary=None, highlights=None, link=None)
    blocks, text = render_release_day(bare, [], config.releases, BERLIN)
    assert_message(blocks, text)
    shown = json.dumps(blocks)
    assert "No escalated customer problem has fix version *2.4.0*" in shown and "Release notes" not in shown


def test_hostile_text_is_escaped_everywhere(config: AppConfig) -> None:
    hostile = "<!channel> <@U0BOSS0001> <https://evil.test|Approve>"
    release = summary(
        version=f"2.4.0 {hostile}", summary=hostile, highlights=hostile, link="javascript:alert(1)"
    )
    problem = fixed(7, subject=hostile, to_tell=(f"{hostile} (Evil & Co)",))
    for blocks, text in (
        render_heads_up(release, [problem], BERLIN),
        render_release_day(release, [problem], config.releases, BERLIN),
        render_release_cancelled(release, BERLIN),
    ):
        assert_message(blocks, text)
        if blocks[0]["type"] == "header":
            # plain_text, which Slack never parses for mentions or links: shown as typed
            assert hostile in blocks[0]["text"]["text"]
            blocks = blocks[1:]
        shown = json.dumps(blocks) + text
        assert "<!channel>" not in shown and "<@U0BOSS0001>" not in shown and "<https://evil" not in shown
        assert "&lt;!channel&gt;" in shown
        assert "javascript:" not in shown  # not made a link button
    assert_golden("release_day_hostile", render_release_day(release, [problem], config.releases, BERLIN)[0])


def test_a_release_fixing_many_problems_stays_within_slacks_limits(config: AppConfig) -> None:
    many_names = tuple(f"Customer {n} (Company {n})" for n in range(60))
    problems = [fixed(n, to_tell=many_names, customers=80, subject="S" * 600) for n in range(1, 46)]
    long = summary(summary="x" * 5000, highlights="\n".join(f"point {n}" for n in range(40)))
    blocks, text = render_release_day(long, problems, config.releases, BERLIN)
    assert_message(blocks, text)
    assert len(blocks) < 50
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "… and 15 more problems fixed in 2.4.0" in shown
    assert "and 50 more" in shown and "… and 25 more" in shown  # names; highlights
    heads_up, _ = render_heads_up(long, problems, BERLIN)
    assert block_kit_problems(heads_up) == [] and "… and 40 more" in json.dumps(heads_up, ensure_ascii=False)


def test_watch_note(config: AppConfig) -> None:
    report_ = WatchReport(
        release=summary(status="released"),
        period=timedelta(hours=48),
        areas=(
            AreaCount("login", 2, 4, rose=True),
            AreaCount("billing", 0, 3, rose=True),
            AreaCount("reporting", 4, 5, rose=False),
            AreaCount(None, 0, 1, rose=False),
        ),
    )
    blocks, text = render_watch(report_, config.releases)
    assert_message(blocks, text)
    assert_golden("release_watch", {"text": text, "blocks": blocks})
    quiet, _ = render_watch(WatchReport(summary(), timedelta(hours=48), ()), config.releases)
    assert "No new complaints in either period." in json.dumps(quiet)


def test_release_list(config: AppConfig) -> None:
    upcoming = [
        summary(),
        summary(id=5, version="2.5.0", source="jira", jira_project="PROJ", channels=(RELEASES, SUPPORT)),
    ]
    blocks, text = render_release_list(upcoming, [summary(id=3, version="2.3.0", status="released")], BERLIN)
    assert_message(blocks, text)
    assert_golden("release_list", {"text": text, "blocks": blocks})
    empty, _ = render_release_list([], [], BERLIN)
    assert "Add one with `/release new`" in json.dumps(empty)


def test_release_modal_and_its_confirmation() -> None:
    modal = render_release_modal(BERLIN, time(10, 0), [RELEASES])
    assert view_problems(modal) == []
    assert_golden("release_modal", modal)
    done = render_release_scheduled(
        summary(), RELEASE_AT - timedelta(days=1), RELEASE_AT + timedelta(days=2), BERLIN
    )
    assert view_problems(done) == []
    assert "heads-up" in json.dumps(done)
