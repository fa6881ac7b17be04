"""Shadowing's clockwork: recurring sessions made ahead, the weekly open-sessions post, reminders before
a session, the feedback prompt after it, and the monthly fairness nudge.

Every job is level-triggered: each tick looks at what is due *now* and claims it with `once` in the
transaction that enqueues its message, so a restart, a second process or a late tick never sends
twice, and a tick missed while the process restarted is made up by the next one:

- the weekly post and the monthly nudge go out if their time passed less than `MISFIRE_GRACE_SECONDS`
  ago (a post an hour late is noise: it waits for next week);
- a reminder goes out any time between its moment and the next reminder's (or the session's start), so
  a reminder missed during a restart is still sent — once, and never after the next one;
- the feedback prompt goes out in the day after the session ends.

Reminder leads in whole days keep the wall time: the day-before reminder of a 10:00 session comes at
10:00 the day before, across a daylight-saving change too (see `bot.when.before`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.outbox import PostRenderer, TellHosts
from bot.people import People
from bot.services import outbox
from bot.services import shadowing as svc
from bot.services.posts import enqueue_post
from bot.views import shadowing as views
from bot.when import before, local_at
from db.models import shadow_bookings, shadow_sessions, utcnow
from db.session import Database, DatabaseUnavailable
from schedules.scheduler import MISFIRE_GRACE_SECONDS, Scheduler, once

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0
MATERIALIZE_SECONDS = 3600.0
FEEDBACK_WINDOW = timedelta(days=1)
GRACE = timedelta(seconds=MISFIRE_GRACE_SECONDS)


# -- the weekly post -------------------------------------------------------------------------------


def weekly_posts(conn: Connection, config: AppConfig, now: datetime) -> int:
    latest = config.shadowing.weekly_post.latest(now, config.zone)
    if now - latest > GRACE:
        return 0
    sent = 0
    svc.materialize(conn, config, now)
    day = latest.astimezone(config.zone).date().isoformat()
    for programme in config.shadowing.programmes:
        if not once(conn, "shadow-week", f"{programme.id}:{day}"):
            continue
        enqueue_post(
            conn,
            channel=programme.channel,
            key=f"shadow-week:{programme.id}:{day}",
            render=PostRenderer.SHADOW_WEEK,
            args={"programme": programme.id, "from": latest.isoformat()},
        )
        sent += 1
    return sent


# -- reminders -------------------------------------------------------------------------------------


def _reminder_due(
    starts: datetime, queued: datetime, now: datetime, leads: list[timedelta], config: AppConfig
) -> timedelta | None:
    """The reminder to send now, if any: the latest whose moment has come (and came after the booking)
    and whose successor's moment has not."""
    moments = [(lead, before(starts, lead, config.zone)) for lead in leads]  # longest lead first
    for index, (lead, moment) in enumerate(moments):
        following = moments[index + 1][1] if index + 1 < len(moments) else starts
        if moment <= now < following and queued < moment:
            return lead
    return None


def reminders(conn: Connection, config: AppConfig, now: datetime) -> int:
    leads = sorted(config.shadowing.reminders, reverse=True)
    if not leads:
        return 0
    rows = conn.execute(
        select(
            shadow_sessions.c.id,
            shadow_sessions.c.starts_at,
            shadow_bookings.c.user_id,
            shadow_bookings.c.queued_at,
        )
        .join(shadow_bookings, shadow_bookings.c.session_id == shadow_sessions.c.id)
        .where(
            shadow_sessions.c.status == "scheduled",
            shadow_bookings.c.status == svc.BOOKED,
            shadow_sessions.c.starts_at > now,
            shadow_sessions.c.starts_at <= now + leads[0] + timedelta(hours=2),  # DST: days may be 25 h
        )
    ).all()
    sent = 0
    hosts_due: dict[tuple[int, int], None] = {}
    for row in rows:
        lead = _reminder_due(row.starts_at, row.queued_at, now, leads, config)
        if lead is None:
            continue
        minutes = int(lead.total_seconds() // 60)
        hosts_due.setdefault((row.id, minutes), None)
        if not once(conn, "shadow-remind", f"{row.id}:{row.user_id}:{minutes}"):
            continue
        session = svc.load_session(conn, config, row.id)
        blocks, text = views.reminder(session, config.zone, lead, host=False)
        enqueue_post(conn, channel=row.user_id, text=text, blocks=blocks)
        sent += 1
    for session_id, minutes in hosts_due:
        if once(conn, "shadow-remind-hosts", f"{session_id}:{minutes}"):
            outbox.enqueue_in(
                conn,
                TellHosts(session=session_id, what="reminder", lead_minutes=minutes),
            )
            sent += 1
    return sent


# -- feedback --------------------------------------------------------------------------------------


def feedback_prompts(conn: Connection, config: AppConfig, now: datetime) -> int:
    rows = conn.execute(
        select(shadow_sessions.c.id, shadow_bookings.c.user_id)
        .join(shadow_bookings, shadow_bookings.c.session_id == shadow_sessions.c.id)
        .where(
            shadow_sessions.c.status == "scheduled",
            shadow_bookings.c.status == svc.BOOKED,
            shadow_bookings.c.feedback.is_(None),
            shadow_sessions.c.ends_at <= now,
            shadow_sessions.c.ends_at > now - FEEDBACK_WINDOW,
        )
    ).all()
    sent = 0
    for row in rows:
        if not once(conn, "shadow-feedback", f"{row.id}:{row.user_id}"):
            continue
        session = svc.load_session(conn, config, row.id)
        blocks, text = views.feedback_prompt(session, config.zone)
        enqueue_post(conn, channel=row.user_id, text=text, blocks=blocks)
        sent += 1
    return sent


# -- fairness nudges -------------------------------------------------------------------------------


def nudge_moment(config: AppConfig, now: datetime) -> datetime | None:
    fairness = config.shadowing.fairness
    if fairness is None:
        return None
    local = now.astimezone(config.zone)
    return local_at(date(local.year, local.month, fairness.nudge_day), fairness.nudge_time, config.zone)


def nudges(conn: Connection, config: AppConfig, now: datetime, group: list[str]) -> int:
    """Once a month: a friendly DM to each person in the fairness group behind the pro-rata target
    (held plus booked hours this quarter), with the next open sessions."""
    moment = nudge_moment(config, now)
    fairness = config.shadowing.fairness
    if moment is None or fairness is None or not (moment <= now <= moment + GRACE):
        return 0
    start, end, label = svc.quarter_of(now, config)
    hours = svc.hours_by_person(conn, start, end, now, group)
    expected = svc.expected_hours(config, now)
    sessions = svc.open_sessions(conn, config, now, days=21, limit=5)
    month = moment.astimezone(config.zone).strftime("%Y-%m")
    sent = 0
    for user in group:
        have = hours.get(user, svc.Hours(0, 0))
        if have.total >= expected or not once(conn, "shadow-nudge", f"{month}:{user}"):
            continue
        blocks, text = views.nudge(round(have.done, 1), fairness.target_hours, label, sessions, config.zone)
        enqueue_post(conn, channel=user, text=text, blocks=blocks)
        sent += 1
    return sent


# -- the tick --------------------------------------------------------------------------------------


async def tick(database: Database, config: AppConfig, people: People, now: datetime | None = None) -> int:
    """Everything due at `now`, each kind in its own transaction."""
    moment = now or utcnow()
    sent = await database.transaction(lambda conn: weekly_posts(conn, config, moment))
    sent += await database.transaction(lambda conn: reminders(conn, config, moment))
    sent += await database.transaction(lambda conn: feedback_prompts(conn, config, moment))
    fairness = config.shadowing.fairness
    if fairness is not None:
        when = nudge_moment(config, moment)
        if when is not None and when <= moment <= when + GRACE:
            group = await people.expand(fairness.group)
            sent += await database.transaction(lambda conn: nudges(conn, config, moment, group))
    return sent


async def materialize(database: Database, config: AppConfig, now: datetime | None = None) -> int:
    moment = now or utcnow()
    return await database.transaction(lambda conn: svc.materialize(conn, config, moment))


def register(
    scheduler: Scheduler, database: Database, config: AppConfig, people: People, wake: Callable[[], None]
) -> None:
    if not config.shadowing.programmes:
        return

    async def shadowing_tick() -> None:
        try:
            sent = await tick(database, config, people)
        except DatabaseUnavailable:
            log.warning("shadowing tick skipped: database unavailable")
            return
        if sent:
            log.info("shadowing messages enqueued", extra={"count": sent})
            wake()

    async def shadowing_sessions() -> None:
        try:
            created = await materialize(database, config)
        except DatabaseUnavailable:
            log.warning("recurring sessions not made: database unavailable")
            return
        if created:
            log.info("recurring shadowing sessions made", extra={"count": created})

    scheduler.add_job(shadowing_tick, "interval", seconds=TICK_SECONDS)
    # First run at once, then hourly: sessions exist for the weekly post and for sign-ups from start.
    scheduler.add_job(shadowing_sessions, "interval", seconds=MATERIALIZE_SECONDS, next_run_time=utcnow())
