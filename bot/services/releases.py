"""Releases support should know about: stored from `/release new` or from Jira versions, listed for
`/release list` and the App Home, and read back for the heads-up, release-day and watch posts.

Synchronous Core on a Connection, run inside `Database.transaction`. No Slack and no HTTP here: the
scheduled posts are claimed and enqueued here (on the clock of `schedules/releases.py`), and rendered
when sent by `bot/deliveries/releases.py`.

Jira versions: a version of a configured project with a release date becomes a scheduled release at
`releases.release_time` on that date (in the configured zone); it follows the version while it is in
the future (renamed, moved, its date cleared or the version deleted: rescheduled or cancelled). A
`jira:version_released` webhook marks the release released *now* — Jira's release date is the plan,
the event is the fact — unless its time has already passed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, case, cast, distinct, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from bot.config import AppConfig, ReleasesConfig
from bot.domain.errors import DomainError
from bot.domain.escalation import EscalationState
from bot.domain.outbox import PostRenderer
from bot.domain.releases import AreaCount, FixedProblem, ReleaseDraft, ReleaseSummary, WatchReport
from bot.services.cards import CARD
from bot.services.posts import enqueue_post, posted
from bot.services.runs import once
from bot.when import after, before, local_at
from db.models import (
    customer_notices,
    customers,
    escalations,
    issues,
    problems,
    releases,
    slack_messages,
)
from db.queries import upsert_for
from db.queries.customers import counted_customer, counts
from db.queries.deliveries import claim_delivery, delivery_key
from integrations.jira_client import JiraVersion

RECENT_DAYS = 30
ACTIVE = ("scheduled", "released")
# How far back a Slack release with the same version name may be to be linked to a Jira version.
LINK_WINDOW = timedelta(days=RECENT_DAYS)


class ReleaseError(DomainError):
    """A release that cannot be created; the message is shown to the person."""


class ReleaseExists(ReleaseError):
    def __init__(self, version: str) -> None:
        super().__init__(f"{version} is already scheduled; see `/release list`.")


def _summary(row: Row[Any]) -> ReleaseSummary:
    return ReleaseSummary(
        id=row.id,
        version=row.version,
        release_at=row.release_at,
        status=row.status,
        source=row.source,
        summary=row.summary,
        highlights=row.highlights,
        link=row.link,
        channels=tuple(row.channels or ()),
        jira_project=row.jira_project,
    )


def load_release(conn: Connection, release_id: int) -> ReleaseSummary | None:
    row = conn.execute(select(releases).where(releases.c.id == release_id)).first()
    return _summary(row) if row is not None else None


def upcoming_releases(conn: Connection, now: datetime, limit: int = 10) -> list[ReleaseSummary]:
    """Releases still to come (not cancelled), soonest first."""
    rows = conn.execute(
        select(releases)
        .where(releases.c.status.in_(ACTIVE), releases.c.release_at > now)
        .order_by(releases.c.release_at, releases.c.id)
        .limit(limit)
    )
    return [_summary(row) for row in rows]


def recent_releases(
    conn: Connection, now: datetime, limit: int = 10, days: int = RECENT_DAYS
) -> list[ReleaseSummary]:
    """Releases of the last `days` days (not cancelled), latest first."""
    rows = conn.execute(
        select(releases)
        .where(
            releases.c.status.in_(ACTIVE),
            releases.c.release_at <= now,
            releases.c.release_at > now - timedelta(days=days),
        )
        .order_by(releases.c.release_at.desc(), releases.c.id.desc())
        .limit(limit)
    )
    return [_summary(row) for row in rows]


# -- creating and updating -------------------------------------------------------------------------


def create_release(conn: Connection, draft: ReleaseDraft, created_by: str, now: datetime) -> int:
    """Store a release from Slack; refused when the same version is already scheduled ahead."""
    taken = conn.execute(
        select(releases.c.id).where(
            releases.c.version == draft.version,
            releases.c.status.in_(ACTIVE),
            releases.c.release_at > now,
        )
    ).first()
    if taken is not None:
        raise ReleaseExists(draft.version)
    return int(
        conn.execute(
            insert(releases)
            .values(
                version=draft.version,
                release_at=draft.release_at,
                summary=draft.summary,
                highlights=draft.highlights,
                link=draft.link,
                channels=list(draft.channels),
                source="slack",
                status="scheduled",
                created_by=created_by,
                created_at=now,
                updated_at=now,
            )
            .returning(releases.c.id)
        ).scalar_one()
    )


def jira_release_at(version: JiraVersion, config: AppConfig) -> datetime | None:
    """When a Jira version with a release date ships: `releases.release_time` that day, local time."""
    if version.release_date is None:
        return None
    return local_at(version.release_date, config.releases.release_time, config.zone)


@dataclass(frozen=True)
class JiraChange:
    """What a Jira version did to its release (posted heads-ups follow a reschedule or a cancel)."""

    release_id: int
    outcome: str  # created | rescheduled | released | cancelled | unchanged


def _find_for_version(conn: Connection, version: JiraVersion, now: datetime) -> Row[Any] | None:
    """The release of this Jira version, or a Slack release of the same name not yet linked to one."""
    row = conn.execute(select(releases).where(releases.c.jira_version_id == version.id)).first()
    if row is not None:
        return row
    return conn.execute(
        select(releases)
        .where(
            releases.c.jira_version_id.is_(None),
            releases.c.version == version.name,
            releases.c.status.in_(ACTIVE),
            releases.c.release_at > now - LINK_WINDOW,
        )
        .order_by(releases.c.release_at.desc())
        .limit(1)
    ).first()


def _insert_jira_release(
    conn: Connection,
    version: JiraVersion,
    *,
    project: str | None,
    channel: str,
    release_at: datetime,
    status: str,
    now: datetime,
) -> int | None:
    """Insert, or None when a concurrent delivery inserted the same version first."""
    return conn.execute(
        upsert_for(conn, releases)
        .values(
            version=version.name[:128],
            release_at=release_at,
            summary=version.description,
            channels=[channel],
            source="jira",
            jira_project=project,
            jira_version_id=version.id,
            status=status,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[releases.c.jira_version_id])
        .returning(releases.c.id)
    ).scalar()


def _link(conn: Connection, row: Row[Any], version: JiraVersion, project: str | None) -> None:
    if row.jira_version_id is None:
        conn.execute(
            update(releases)
            .where(releases.c.id == row.id)
            .values(jira_version_id=version.id, jira_project=project or row.jira_project)
        )


def apply_version_released(
    conn: Connection, version: JiraVersion, *, project: str | None, channel: str, now: datetime
) -> JiraChange:
    """`jira:version_released`: the release is out. Its time becomes now unless it already passed."""
    row = _find_for_version(conn, version, now)
    if row is None:
        created = _insert_jira_release(
            conn, version, project=project, channel=channel, release_at=now, status="released", now=now
        )
        if created is not None:
            return JiraChange(created, "created")
        row = _find_for_version(conn, version, now)
        assert row is not None  # the concurrent insert that beat us
    _link(conn, row, version, project)
    if row.status == "released" and row.release_at <= now:
        return JiraChange(row.id, "unchanged")
    conn.execute(
        update(releases)
        .where(releases.c.id == row.id)
        .values(status="released", release_at=min(row.release_at, now), updated_at=now)
    )
    return JiraChange(row.id, "released")


def _follow_version(
    conn: Connection, row: Row[Any], version: JiraVersion, release_at: datetime | None, now: datetime
) -> str:
    """Keep a future release in step with its unreleased Jira version."""
    if row.release_at <= now and row.status != "cancelled":
        return "unchanged"  # its day has come: what was announced stands
    if release_at is None or release_at <= now:
        if row.status == "cancelled" or row.source != "jira":
            return "unchanged"  # a Slack release linked to the version keeps its own plan
        conn.execute(
            update(releases).where(releases.c.id == row.id).values(status="cancelled", updated_at=now)
        )
        return "cancelled"
    if row.source != "jira":
        return "unchanged"
    changes: dict[str, Any] = {}
    if row.release_at != release_at or row.status == "cancelled":
        changes.update(release_at=release_at, status="scheduled")
    if row.version != version.name[:128]:
        changes["version"] = version.name[:128]
    if row.summary != version.description:
        changes["summary"] = version.description
    if not changes:
        return "unchanged"
    conn.execute(update(releases).where(releases.c.id == row.id).values(**changes, updated_at=now))
    return "rescheduled"


def sync_project_versions(
    conn: Connection,
    project: str,
    versions: list[JiraVersion],
    *,
    channel: str,
    config: AppConfig,
    now: datetime,
) -> list[JiraChange]:
    """Make the releases match `project`'s versions as Jira now lists them (the whole list)."""
    changes: list[JiraChange] = []
    seen: set[str] = set()
    for version in versions:
        if version.archived:
            continue
        seen.add(version.id)
        row = _find_for_version(conn, version, now)
        if version.released:
            if row is not None and row.status == "scheduled":
                changes.append(
                    apply_version_released(conn, version, project=project, channel=channel, now=now)
                )
            continue
        release_at = jira_release_at(version, config)
        if row is None:
            if release_at is not None and release_at > now:
                created = _insert_jira_release(
                    conn,
                    version,
                    project=project,
                    channel=channel,
                    release_at=release_at,
                    status="scheduled",
                    now=now,
                )
                if created is not None:
                    changes.append(JiraChange(created, "created"))
            continue
        _link(conn, row, version, project)
        changes.append(JiraChange(row.id, _follow_version(conn, row, version, release_at, now)))
    changes.extend(_cancel_vanished(conn, project, seen, now))
    return [c for c in changes if c.outcome != "unchanged"]


def _cancel_vanished(conn: Connection, project: str, seen: set[str], now: datetime) -> list[JiraChange]:
    """Future releases of versions Jira no longer lists (deleted or archived) are cancelled."""
    gone = [
        row.id
        for row in conn.execute(
            select(releases.c.id, releases.c.jira_version_id).where(
                releases.c.source == "jira",
                releases.c.jira_project == project,
                releases.c.status == "scheduled",
                releases.c.release_at > now,
            )
        )
        if row.jira_version_id not in seen
    ]
    if gone:
        conn.execute(
            update(releases).where(releases.c.id.in_(gone)).values(status="cancelled", updated_at=now)
        )
    return [JiraChange(release_id, "cancelled") for release_id in gone]


def mark_released(conn: Connection, release_id: int, now: datetime) -> None:
    conn.execute(
        update(releases)
        .where(releases.c.id == release_id, releases.c.status == "scheduled")
        .values(status="released", updated_at=now)
    )


# -- what a release fixes ----------------------------------------------------------------------------

TO_TELL_LISTED = 10


def _customer_label(row: Any) -> str:
    name = row.name or row.email or row.external_id or "Unknown customer"
    return f"{name} ({row.company})" if row.company else name


def fixed_problems(conn: Connection, version: str, jira_project: str | None) -> list[FixedProblem]:
    """Problems whose Jira issue has `version` among its fix versions (only issues of `jira_project`
    when the release belongs to one), with the customers still to tell; most customers to tell first."""
    # JSON lists are compared as text first (portable across SQLite and PostgreSQL, and it keeps the
    # scan to candidates), then exactly: the stored list is what SQLAlchemy serialized, like this.
    quoted = json.dumps(version)
    query = (
        select(
            escalations.c.problem_id,
            escalations.c.jira_key,
            escalations.c.jira_url,
            escalations.c.jira_fix_versions,
            problems.c.primary_issue_id,
            issues.c.subject,
            slack_messages.c.channel,
            slack_messages.c.permalink,
        )
        .join(problems, problems.c.id == escalations.c.problem_id)
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .outerjoin(
            slack_messages, and_(slack_messages.c.issue_id == issues.c.id, slack_messages.c.purpose == CARD)
        )
        .where(
            escalations.c.jira_key.is_not(None),
            escalations.c.state != EscalationState.UNLINKED,
            problems.c.status != "merged",
            cast(escalations.c.jira_fix_versions, Text).contains(quoted, autoescape=True),
        )
        .order_by(escalations.c.problem_id)
    )
    if jira_project:
        query = query.where(escalations.c.jira_key.startswith(f"{jira_project}-", autoescape=True))
    rows = [r for r in conn.execute(query) if version in (r.jira_fix_versions or [])]
    if not rows:
        return []
    ids = [r.problem_id for r in rows]
    totals = {
        row.problem_id: int(row.customers)
        for row in conn.execute(
            select(issues.c.problem_id, func.count(distinct(counted_customer(issues))).label("customers"))
            .where(issues.c.problem_id.in_(ids))
            .group_by(issues.c.problem_id)
        )
    }
    waiting = _customers_to_tell(conn, ids)
    found = [
        FixedProblem(
            problem_id=r.problem_id,
            issue_id=r.primary_issue_id,
            subject=r.subject,
            jira_key=r.jira_key,
            jira_url=r.jira_url,
            card_channel=r.channel,
            card_permalink=r.permalink,
            customers=totals.get(r.problem_id, 0),
            to_tell=tuple(waiting.get(r.problem_id, [])),
        )
        for r in rows
    ]
    return sorted(found, key=lambda p: (-len(p.to_tell), p.problem_id))


def _customers_to_tell(conn: Connection, problem_ids: list[int]) -> dict[int, list[str]]:
    """The close-the-loop list: each problem's customers (across merged reports) not yet told."""
    rows = conn.execute(
        select(
            issues.c.problem_id,
            customers.c.name,
            customers.c.email,
            customers.c.external_id,
            customers.c.company,
        )
        .join(customers, customers.c.id == issues.c.customer_id)
        .outerjoin(
            customer_notices,
            and_(
                customer_notices.c.problem_id == issues.c.problem_id,
                customer_notices.c.customer_id == customers.c.id,
            ),
        )
        .where(issues.c.problem_id.in_(problem_ids), counts(issues), customer_notices.c.customer_id.is_(None))
        .group_by(
            issues.c.problem_id,
            customers.c.id,
            customers.c.name,
            customers.c.email,
            customers.c.external_id,
            customers.c.company,
        )
        .order_by(issues.c.problem_id, func.min(issues.c.id))
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row.problem_id, []).append(_customer_label(row))
    return found


# -- the post-release watch --------------------------------------------------------------------------


def complaint_counts(
    conn: Connection, start: datetime, release_at: datetime, end: datetime
) -> list[tuple[str | None, int, int]]:
    """New complaints per product area in [start, release_at) and [release_at, end): one aggregate."""
    before = func.sum(case((issues.c.received_at < release_at, 1), else_=0))
    after = func.sum(case((issues.c.received_at >= release_at, 1), else_=0))
    rows = conn.execute(
        select(issues.c.product_area, before.label("before"), after.label("after"))
        .where(issues.c.received_at >= start, issues.c.received_at < end)
        .group_by(issues.c.product_area)
    )
    return [(row.product_area, int(row.before or 0), int(row.after or 0)) for row in rows]


def rose(before: int, after: int, rule: ReleasesConfig) -> bool:
    """At least `rise_min` complaints since the release and at least `rise_ratio` times as many as
    before (so an area with none before rises at `rise_min`)."""
    return after >= rule.rise_min and after >= rule.rise_ratio * before


def watch_report(
    conn: Connection, release: ReleaseSummary, end: datetime, rule: ReleasesConfig
) -> WatchReport:
    """Complaints by area in the period since the release (until `end`) against the same length before."""
    period = end - release.release_at
    counts = complaint_counts(conn, release.release_at - period, release.release_at, end)
    areas = [AreaCount(area, before, after, rose(before, after, rule)) for area, before, after in counts]
    areas.sort(key=lambda a: (not a.rose, -a.after, -a.before, a.area or "\uffff"))
    return WatchReport(release=release, period=period, areas=tuple(areas))


def heads_up_at(release_at: datetime, config: AppConfig) -> datetime:
    """When a release's heads-up is due: `releases.heads_up` before it, on the calendar of the zone."""
    return before(release_at, config.releases.heads_up, config.zone)


def watch_at(release_at: datetime, config: AppConfig) -> datetime:
    """When a release's post-release watch is due: `releases.watch` after it."""
    return after(release_at, config.releases.watch, config.zone)


# -- posts on the clock: the heads-up, the release-day post and the post-release watch --------------
# What is due *now* is claimed with `once` in the transaction that enqueues it (see `schedules.releases`
# for when each post is due); posts are rendered when sent, by the renderer named after their job.

WATCH_LATE = timedelta(days=1)  # a watch that could not go out within a day of its time is dropped
HEADS_UP = "release.heads_up"
DAY = "release.day"
WATCH = "release.watch"


def post_key(job: str, release_id: int, channel: str) -> str:
    """`release:4:heads-up:C0123`, `release:4:day:C0123`, `release:4:watch:C0123`."""
    kind = {HEADS_UP: "heads-up", DAY: "day", WATCH: "watch"}[job]
    return f"release:{release_id}:{kind}:{channel}"


@dataclass(frozen=True)
class DuePost:
    job: str  # HEADS_UP | DAY | WATCH
    release_id: int
    channel: str

    @property
    def period(self) -> str:
        return f"{self.release_id}:{self.channel}"

    @property
    def key(self) -> str:
        return post_key(self.job, self.release_id, self.channel)


def _due_jobs(release_at: datetime, status: str, config: AppConfig, now: datetime) -> list[str]:
    due: list[str] = []
    if status == "scheduled" and heads_up_at(release_at, config) <= now < release_at:
        due.append(HEADS_UP)
    watch = watch_at(release_at, config)
    if release_at <= now < watch:
        due.append(DAY)
    if watch <= now < watch + WATCH_LATE:
        due.append(WATCH)
    return due


def due_posts(conn: Connection, config: AppConfig, now: datetime) -> list[DuePost]:
    """Every post due at `now` (claimed or not: `once` decides)."""
    # A day of slack either side covers calendar days that are 23 or 25 hours long.
    slack = timedelta(days=1)
    rows = conn.execute(
        select(releases.c.id, releases.c.release_at, releases.c.status, releases.c.channels).where(
            releases.c.status.in_(ACTIVE),
            releases.c.release_at <= now + config.releases.heads_up + slack,
            releases.c.release_at > now - config.releases.watch - WATCH_LATE - slack,
        )
    ).all()
    found: list[DuePost] = []
    for row in rows:
        for job in _due_jobs(row.release_at, row.status, config, now):
            found.extend(DuePost(job, row.id, channel) for channel in row.channels or [])
    return found


def _enqueue(conn: Connection, due: DuePost) -> None:
    thread = post_key(DAY, due.release_id, due.channel) if due.job == WATCH else None
    enqueue_post(
        conn,
        channel=due.channel,
        key=due.key,
        render=PostRenderer(due.job),  # each job's post is rendered by the renderer of its name
        args={"release": due.release_id},
        thread=thread,
    )


def send_due_posts(conn: Connection, config: AppConfig, now: datetime) -> int:
    """Claim and enqueue every post due at `now`; returns how many."""
    sent = 0
    for due in due_posts(conn, config, now):
        if due.job == WATCH and posted(conn, post_key(DAY, due.release_id, due.channel)) is None:
            continue  # the watch replies to the release-day post: not there (yet), no watch
        if not once(conn, due.job, due.period):
            continue
        _enqueue(conn, due)
        if due.job == DAY:
            mark_released(conn, due.release_id, now)
        sent += 1
    return sent


def refresh_announcements(conn: Connection, release_id: int) -> None:
    """Re-render a release's heads-ups already posted (moved or cancelled); none posted, no effect."""
    release = load_release(conn, release_id)
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
) -> list[JiraChange]:
    changes = sync_project_versions(conn, project, versions, channel=channel, config=config, now=now)
    for change in changes:
        if change.outcome in ("rescheduled", "cancelled"):
            refresh_announcements(conn, change.release_id)
    return changes


def store_release(
    conn: Connection, draft: ReleaseDraft, user: str, view_id: str, config: AppConfig, now: datetime
) -> ReleaseSummary | None:
    """Create the release once per modal (a retried submission of the same view finds it taken); a
    heads-up already due (a release less than `releases.heads_up` ahead) is enqueued with it."""
    if view_id and not claim_delivery(conn, delivery_key("slack:view:", view_id), now=now):
        return None
    release_id = create_release(conn, draft, user, now)
    send_due_posts(conn, config, now)
    return load_release(conn, release_id)
