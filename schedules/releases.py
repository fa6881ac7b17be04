"""Release announcements on the clock: the heads-up, the release-day post and the post-release watch,
each once per release and channel; and the Jira versions of the configured projects, read every
15 minutes.

The check is level-triggered: every `CHECK_SECONDS` it works out what is due *now* and claims each post
with `once` in the transaction that enqueues it, so a restart, a second process or a late start never
sends anything twice, and nothing due is lost to a missed tick. When each post is due:

- heads-up: from `releases.heads_up` before the release until the release itself. A heads-up whose
  time passed while no process ran (or a release added later than that) still goes out, as long as
  the release is ahead: "what ships" is still news. Once the release time has come, the release-day
  post says it instead;
- release day: from the release time until the watch is due (`releases.watch` after it). It marks
  the release released;
- watch: from `releases.watch` after the release for a day, in the thread of the release-day post of
  each channel where that post went out. Its two windows are fixed by the release time, so a late
  watch still compares the right periods.

Whole days (24h, 48h) are counted on the calendar in the configured zone, keeping the wall time
across daylight-saving changes (`bot.when.before` / `after`).

Posts are rendered when they are sent (`bot.deliveries.releases`), from the state at that moment:
a heads-up that waited in the outbox shows the current problems and customers to tell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.outbox import PostRenderer
from bot.services import releases as service
from bot.services.posts import enqueue_post
from bot.services.releases import HEADS_UP, post_key, send_due_posts
from db.models import utcnow
from db.session import Database, DatabaseUnavailable
from integrations.jira_client import JiraError, JiraGateway, JiraVersion
from schedules.scheduler import Scheduler

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0
SYNC_SECONDS = 15 * 60.0


async def check_releases(database: Database, config: AppConfig, now: datetime | None = None) -> int:
    moment = now or utcnow()
    return await database.transaction(lambda conn: send_due_posts(conn, config, moment))


# -- Jira versions ---------------------------------------------------------------------------------


def refresh_announcements(conn: Connection, release_id: int) -> None:
    """Re-render a release's heads-ups already posted (moved or cancelled); none posted, no effect."""
    release = service.load_release(conn, release_id)
    for channel in release.channels if release is not None else ():
        enqueue_post(
            conn,
            channel=channel,
            key=post_key(HEADS_UP, release_id, channel),
            render=PostRenderer.RELEASE_HEADS_UP,
            args={"release": release_id, "edit": True},
            edit=True,
        )


def apply_project_versions(
    conn: Connection,
    project: str,
    versions: list[JiraVersion],
    *,
    channel: str,
    config: AppConfig,
    now: datetime,
) -> list[service.JiraChange]:
    changes = service.sync_project_versions(conn, project, versions, channel=channel, config=config, now=now)
    for change in changes:
        if change.outcome in ("rescheduled", "cancelled"):
            refresh_announcements(conn, change.release_id)
    return changes


async def sync_jira_releases(
    database: Database,
    config: AppConfig,
    jira: JiraGateway | None,
    now: datetime | None = None,
) -> int:
    """Read the versions of each `releases.jira_projects` project and follow them; returns how many
    releases changed. Nothing to do without Jira credentials or a `channels.releases` channel."""
    channel = config.channels.releases
    if jira is None or channel is None:
        return 0
    changed = 0
    for project in config.releases.jira_projects:
        try:
            versions = await jira.project_versions(project)
        except JiraError as exc:
            log.warning("jira versions not read", extra={"project": project, "error": str(exc)})
            continue
        work = partial(
            apply_project_versions,
            project=project,
            versions=versions,
            channel=channel,
            config=config,
            now=now or utcnow(),
        )
        changes = await database.transaction(work)
        changed += len(changes)
        if changes:
            log.info(
                "jira versions followed",
                extra={"project": project, "outcomes": sorted({c.outcome for c in changes})},
            )
    return changed


# -- registration ------------------------------------------------------------------------------------


def register(
    scheduler: Scheduler,
    database: Database,
    config: AppConfig,
    wake: Callable[[], None],
    jira: JiraGateway | None,
) -> None:
    """The release check every `CHECK_SECONDS`; the Jira sync every `SYNC_SECONDS` when Jira, a
    releases channel and projects are configured. Both run only in the process leading the scheduler."""

    async def release_check() -> None:
        try:
            sent = await check_releases(database, config)
        except DatabaseUnavailable:
            log.warning("release check skipped: database unavailable")
            return
        if sent:
            log.info("release posts enqueued", extra={"count": sent})
            wake()

    scheduler.add_job(release_check, "interval", seconds=CHECK_SECONDS)
    if jira is None or config.channels.releases is None or not config.releases.jira_projects:
        return

    async def jira_release_sync() -> None:
        try:
            changed = await sync_jira_releases(database, config, jira)
        except DatabaseUnavailable:
            log.warning("jira release sync skipped: database unavailable")
            return
        if changed:
            wake()

    scheduler.add_job(jira_release_sync, "interval", seconds=SYNC_SECONDS)
