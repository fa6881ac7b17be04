"""Shadowing's clockwork: what is due at a moment — the weekly open-sessions post, reminders before
a session, the feedback prompt after it and the monthly fairness nudge — claimed once and enqueued.
`schedules.shadowing` runs it on the clock.

Every step is level-triggered: each tick looks at what is due *now* and claims it with `once` in the
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

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.outbox import PostRenderer, TellHosts
from bot.domain.shadowing import BOOKED, Hours, encode_session
from bot.services import outbox
from bot.services.posts import enqueue_post
from bot.services.runs import MISFIRE_GRACE_SECONDS, once
from bot.services.shadowing import (
    dm_key_prefix,
    expected_hours,
    feedback_prompt_key,
    hours_by_person,
    load_session,
    materialize,
    open_sessions,
    quarter_of,
    refresh_dms,
)
from bot.when import before, local_at
from db.models import shadow_bookings, shadow_sessions

FEEDBACK_WINDOW = timedelta(days=1)
GRACE = timedelta(seconds=MISFIRE_GRACE_SECONDS)


# -- the weekly post -------------------------------------------------------------------------------


def weekly_posts(conn: Connection, config: AppConfig, now: datetime) -> int:
    latest = config.shadowing.weekly_post.latest(now, config.zone)
    if now - latest > GRACE:
        return 0
    sent = 0
    materialize(conn, config, now)
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
            shadow_bookings.c.status == BOOKED,
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
        session = load_session(conn, config, row.id)
        enqueue_post(
            conn,
            channel=row.user_id,
            key=f"{dm_key_prefix(row.id, row.user_id)}remind-{minutes}",
            render=PostRenderer.SHADOW_REMINDER,
            args={
                "session": encode_session(session),
                "lead_seconds": lead.total_seconds(),
                "user": row.user_id,
            },
        )
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
            shadow_bookings.c.status == BOOKED,
            shadow_bookings.c.feedback.is_(None),
            shadow_sessions.c.ends_at <= now,
            shadow_sessions.c.ends_at > now - FEEDBACK_WINDOW,
        )
    ).all()
    sent = 0
    for row in rows:
        if not once(conn, "shadow-feedback", f"{row.id}:{row.user_id}"):
            continue
        session = load_session(conn, config, row.id)
        # The session is over: its Cancel and Offer buttons in earlier DMs can only fail now.
        refresh_dms(conn, row.id, [row.user_id])
        enqueue_post(
            conn,
            channel=row.user_id,
            key=feedback_prompt_key(row.id, row.user_id),
            render=PostRenderer.SHADOW_FEEDBACK_PROMPT,
            args={"session": encode_session(session), "user": row.user_id},
        )
        sent += 1
    return sent


# -- fairness nudges -------------------------------------------------------------------------------


def nudge_moment(config: AppConfig, now: datetime) -> datetime | None:
    fairness = config.shadowing.fairness
    if fairness is None:
        return None
    local = now.astimezone(config.zone)
    return local_at(date(local.year, local.month, fairness.nudge_day), fairness.nudge_time, config.zone)


def nudge_due(config: AppConfig, now: datetime) -> bool:
    """The month's nudge moment has come, less than the misfire grace ago."""
    moment = nudge_moment(config, now)
    return moment is not None and moment <= now <= moment + GRACE


def nudges(conn: Connection, config: AppConfig, now: datetime, group: list[str]) -> int:
    """Once a month: a friendly DM to each person in the fairness group behind the pro-rata target
    (held plus booked hours this quarter), with the next open sessions."""
    moment = nudge_moment(config, now)
    fairness = config.shadowing.fairness
    if moment is None or fairness is None or not nudge_due(config, now):
        return 0
    start, end, label = quarter_of(now, config)
    hours = hours_by_person(conn, start, end, now, group)
    expected = expected_hours(config, now)
    sessions = open_sessions(conn, config, now, days=21, limit=5)
    month = moment.astimezone(config.zone).strftime("%Y-%m")
    nudge_args = {
        "target": fairness.target_hours,
        "label": label,
        "sessions": [encode_session(s) for s in sessions],
    }
    sent = 0
    for user in group:
        have = hours.get(user, Hours(0, 0))
        if have.total >= expected or not once(conn, "shadow-nudge", f"{month}:{user}"):
            continue
        enqueue_post(
            conn,
            channel=user,
            render=PostRenderer.SHADOW_NUDGE,
            args={"done": round(have.done, 1), **nudge_args},
        )
        sent += 1
    return sent
