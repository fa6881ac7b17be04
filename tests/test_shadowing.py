"""Shadowing rotations against a real database (SQLite and PostgreSQL), with the clock in the test's
hands: recurring sessions across daylight-saving changes, reminders at the right local time, jobs
missed during a restart, two schedulers, sign-up races, the waitlist, swaps, fairness, onboarding."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.deliveries.shadowing import SNAPSHOT_VIEWS, render_snapshot
from bot.domain import errors
from bot.domain.outbox import OutboxKind, PostRenderer
from bot.domain.shadowing import decode_plan, decode_session, encode_plan, encode_session
from bot.ids import Action
from bot.people import People
from bot.services import shadowing as svc
from bot.services import shadowing_clock as due
from db.models import issue_events, outbox_items, problems, scheduled_runs, shadow_sessions
from db.session import Database
from schedules import shadowing as jobs

HOST = "U0HOST0001"
ANA, BEN, CAT, DAN = "U0ANA00001", "U0BEN00001", "U0CAT00001", "U0DAN00001"
CHANNEL = "C0SHADOW01"
ZONE = ZoneInfo("Europe/Berlin")  # the test configuration's


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def shadow_config(make_config: Any, **overrides: Any) -> AppConfig:
    shadowing: dict[str, Any] = {
        "programmes": [
            {
                "id": "l1",
                "name": "L1 support",
                "hosts": [HOST],
                "channel": CHANNEL,
                "capacity": 2,
                "where": "https://meet.example.test/l1",
                "sessions": [
                    {"weekday": "mon", "time": "10:00", "duration": "1h"},
                    {"weekday": "sun", "time": "10:00", "duration": "1h"},
                ],
            },
            {
                "id": "billing",
                "name": "Billing desk",
                "hosts": [HOST],
                "channel": CHANNEL,
                "capacity": 1,
                "waitlist": False,
                "sessions": [{"weekday": "tue", "time": "14:00", "duration": "90m"}],
            },
        ],
        "fairness": {"group": [ANA, BEN, CAT], "target_hours": 2, "teams": {"Payments": [ANA, BEN]}},
    }
    shadowing.update(overrides)
    return make_config(shadowing=shadowing)  # type: ignore[no-any-return]


async def in_tx(database: Database, work: Any) -> Any:
    return await database.transaction(work)


def session_at(conn: Connection, programme: str, starts: datetime) -> int:
    return int(
        conn.execute(
            select(shadow_sessions.c.id).where(
                shadow_sessions.c.programme == programme, shadow_sessions.c.starts_at == starts
            )
        ).scalar_one()
    )


def posts(conn: Connection) -> list[dict[str, Any]]:
    """The queued posts, with the text and blocks of those rendered from their payload alone as they
    will be sent."""
    query = select(outbox_items).where(outbox_items.c.kind == OutboxKind.POST)
    found = [dict(r.payload) for r in conn.execute(query).all()]
    for post in found:
        if post.get("render") in SNAPSHOT_VIEWS:
            post["blocks"], post["text"] = render_snapshot(PostRenderer(post["render"]), post["args"], ZONE)
    return found


def dms_to(conn: Connection, user: str) -> list[str]:
    return [str(p.get("text")) for p in posts(conn) if p["channel"] == user]


# -- recurring sessions ----------------------------------------------------------------------------


async def test_recurring_sessions_keep_their_wall_time_across_daylight_saving(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    now = utc(2026, 10, 15, 12, 0)  # Berlin summer time until Sunday 25 October, 03:00
    created = await in_tx(database, lambda c: svc.materialize(c, config, now))
    assert created > 0
    assert await in_tx(database, lambda c: svc.materialize(c, config, now)) == 0  # idempotent

    sessions = await in_tx(database, lambda c: svc.sessions_between(c, config, now, now + timedelta(days=14)))
    mondays = [s.starts_at for s in sessions if s.programme == "l1" and s.starts_at.weekday() == 0]
    assert mondays[:2] == [utc(2026, 10, 19, 8, 0), utc(2026, 10, 26, 9, 0)]  # 10:00 CEST, then 10:00 CET
    assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in sessions if s.programme == "l1")
    tuesdays = [s for s in sessions if s.programme == "billing"]
    assert tuesdays[0].starts_at == utc(2026, 10, 20, 12, 0) and tuesdays[0].capacity == 1


async def test_reminders_come_at_the_right_local_time_across_a_daylight_saving_change(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    booked_at = utc(2026, 10, 20, 9, 0)
    await in_tx(database, lambda c: svc.materialize(c, config, booked_at))
    # Sunday 25 October 10:00 CET is 09:00 UTC; the clocks went back at 03:00 that night.
    session_id = await in_tx(database, lambda c: session_at(c, "l1", utc(2026, 10, 25, 9, 0)))
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, booked_at))

    async def remind(at: datetime) -> int:
        return int(await in_tx(database, lambda c: due.reminders(c, config, at)))

    # The day before at 10:00 local: Saturday 10:00 CEST is 08:00 UTC (25 real hours before).
    assert await remind(utc(2026, 10, 24, 7, 59)) == 0
    assert await remind(utc(2026, 10, 24, 8, 0)) == 2  # the shadow's DM and the hosts' message
    assert await remind(utc(2026, 10, 24, 8, 1)) == 0  # once
    assert await remind(utc(2026, 10, 25, 8, 44)) == 0
    assert await remind(utc(2026, 10, 25, 8, 45)) == 2  # 15 minutes before: 09:45 CET
    assert await remind(utc(2026, 10, 25, 8, 50)) == 0
    assert await remind(utc(2026, 10, 25, 9, 0)) == 0  # the session has started

    texts = await in_tx(database, lambda c: dms_to(c, ANA))
    assert [t for t in texts if t.startswith("Reminder")] == [
        "Reminder: L1 support, Sun 25 Oct 10:00 tomorrow",
        "Reminder: L1 support, Sun 25 Oct 10:00 in 15 min",
    ]
    runs = await in_tx(
        database,
        lambda c: c.execute(
            select(func.count()).where(scheduled_runs.c.job == "shadow-remind-hosts")
        ).scalar(),
    )
    assert runs == 2


async def test_a_reminder_missed_during_a_restart_is_sent_once_and_never_after_the_next(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    booked_at = utc(2026, 11, 1, 9, 0)
    await in_tx(database, lambda c: svc.materialize(c, config, booked_at))
    session_id = await in_tx(database, lambda c: session_at(c, "l1", utc(2026, 11, 9, 9, 0)))  # Mon 10:00 CET
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, BEN, booked_at))

    # Down from 09:55 to 10:05 on Sunday: the day-before reminder (due 10:00) goes out at 10:05, once.
    assert await in_tx(database, lambda c: due.reminders(c, config, utc(2026, 11, 8, 9, 5))) == 2
    other = Database(database.url)  # a second process, after the restart
    try:
        assert await in_tx(other, lambda c: due.reminders(c, config, utc(2026, 11, 8, 9, 6))) == 0
    finally:
        await other.dispose()
    # Down through the 15-minute mark as well: only that one, never the older one again.
    assert await in_tx(database, lambda c: due.reminders(c, config, utc(2026, 11, 9, 8, 50))) == 2
    assert len([t for t in await in_tx(database, lambda c: dms_to(c, BEN)) if t.startswith("Reminder")]) == 2


async def test_booking_after_the_day_before_mark_gets_only_the_short_reminder(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    late = utc(2026, 11, 8, 20, 0)  # Sunday evening, for Monday 10:00
    await in_tx(database, lambda c: svc.materialize(c, config, late))
    session_id = await in_tx(database, lambda c: session_at(c, "l1", utc(2026, 11, 9, 9, 0)))
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, CAT, late))
    assert await in_tx(database, lambda c: due.reminders(c, config, utc(2026, 11, 8, 20, 1))) == 0
    assert await in_tx(database, lambda c: due.reminders(c, config, utc(2026, 11, 9, 8, 45))) == 2


# -- the weekly post -------------------------------------------------------------------------------


async def test_weekly_post_missed_during_a_restart_still_goes_out_once(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    people = People(None)
    monday_9 = utc(2026, 11, 23, 8, 0)  # Monday 09:00 in Berlin
    assert await jobs.tick(database, config, people, monday_9 - timedelta(minutes=1)) == 0
    # The process was restarting at 09:00; it is back at 09:08 (within the 10-minute grace).
    await jobs.tick(database, config, people, monday_9 + timedelta(minutes=8))
    await jobs.tick(database, config, people, monday_9 + timedelta(minutes=9))
    week_posts = [p for p in await in_tx(database, posts) if str(p.get("key", "")).startswith("shadow-week:")]
    assert sorted(p["key"] for p in week_posts) == [
        "shadow-week:billing:2026-11-23",
        "shadow-week:l1:2026-11-23",
    ]
    assert all(p["render"] == PostRenderer.SHADOW_WEEK and p["channel"] == CHANNEL for p in week_posts)

    # A week later the process is down for 11 minutes: past the grace, that week's post is skipped.
    await jobs.tick(database, config, people, monday_9 + timedelta(days=7, minutes=11))
    keys = {p.get("key") for p in await in_tx(database, posts)}
    assert "shadow-week:l1:2026-11-30" not in keys


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_two_schedulers_on_postgresql_post_once(database: Database, make_config: Any) -> None:
    config = shadow_config(make_config)
    monday_9 = utc(2026, 11, 23, 8, 0)
    await in_tx(database, lambda c: svc.materialize(c, config, monday_9 - timedelta(days=1)))
    session_id = await in_tx(database, lambda c: session_at(c, "l1", utc(2026, 11, 23, 9, 0)))
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, monday_9 - timedelta(days=2)))
    second = Database(database.url)
    try:
        for minute in (0, 1, 45, 46):  # the weekly post, then the 15-minute reminder, each from both
            moment = monday_9 + timedelta(minutes=minute)
            await asyncio.gather(
                jobs.tick(database, config, People(None), moment),
                jobs.tick(second, config, People(None), moment),
            )
    finally:
        await second.dispose()
    all_posts = await in_tx(database, posts)
    # (Sign-ups also ask to edit the week's post in place: those are not new posts.)
    # (DMs with controls are keyed too, so a later change can take the controls away.)
    assert sorted(
        p["key"]
        for p in all_posts
        if p.get("key") and not p.get("edit") and not p["key"].startswith("shadow-dm:")
    ) == [
        "shadow-week:billing:2026-11-23",
        "shadow-week:l1:2026-11-23",
    ]
    # Booked two days ahead: the day-before reminder (due Sunday 10:00, nobody ticked then) goes out
    # late with the weekly post, and the 15-minute one on time; each once although both ticked.
    assert [t for t in await in_tx(database, lambda c: dms_to(c, ANA)) if t.startswith("Reminder")] == [
        "Reminder: L1 support, Mon 23 Nov 10:00 tomorrow",
        "Reminder: L1 support, Mon 23 Nov 10:00 in 15 min",
    ]


# -- signing up ------------------------------------------------------------------------------------


def add_billing(conn: Connection, config: AppConfig, starts: datetime, now: datetime) -> svc.Session:
    """A one-hour session added by the host to the billing programme."""
    billing = config.shadowing.programme("billing")
    assert billing is not None
    return svc.add_session(
        conn, config, billing, starts, timedelta(hours=1), capacity=None, location=None, by=HOST, now=now
    )


async def _one_session(database: Database, config: AppConfig, programme: str, starts: datetime) -> int:
    await in_tx(database, lambda c: svc.materialize(c, config, starts - timedelta(days=3)))
    return int(await in_tx(database, lambda c: session_at(c, programme, starts)))


async def test_two_people_taking_the_last_seat_at_once_get_one_seat_and_one_waitlist_place(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    starts = utc(2026, 12, 7, 9, 0)
    session_id = await _one_session(database, config, "l1", starts)
    now = starts - timedelta(days=2)
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, now))  # one of two seats left

    results = await asyncio.gather(
        in_tx(database, lambda c: svc.sign_up(c, config, session_id, BEN, now)),
        in_tx(database, lambda c: svc.sign_up(c, config, session_id, CAT, now)),
    )
    assert sorted(r.status for r in results) == [svc.BOOKED, svc.WAITLISTED]
    session = await in_tx(database, lambda c: svc.load_session(c, config, session_id))
    assert len(session.booked) == 2 and len(session.waitlisted) == 1


async def test_the_last_seat_without_a_waitlist_goes_to_one_and_the_other_is_told(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    starts = utc(2026, 12, 8, 13, 0)  # Tuesday 14:00 CET, billing: one seat, no waitlist
    session_id = await _one_session(database, config, "billing", starts)
    now = starts - timedelta(days=1)
    results = await asyncio.gather(
        in_tx(database, lambda c: svc.sign_up(c, config, session_id, BEN, now)),
        in_tx(database, lambda c: svc.sign_up(c, config, session_id, CAT, now)),
        return_exceptions=True,
    )
    booked = [r for r in results if isinstance(r, svc.SignUp)]
    refused = [r for r in results if isinstance(r, svc.ShadowError)]
    assert len(booked) == 1 and len(refused) == 1
    assert "is full and this programme keeps no waitlist" in str(refused[0])


async def test_refusals_say_why(database: Database, make_config: Any) -> None:
    config = shadow_config(make_config)
    monday = utc(2026, 12, 7, 9, 0)
    session_id = await _one_session(database, config, "l1", monday)
    now = monday - timedelta(days=1)

    with pytest.raises(errors.TooLate, match="already started"):
        await in_tx(
            database, lambda c: svc.sign_up(c, config, session_id, ANA, monday + timedelta(minutes=5))
        )

    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, now))
    with pytest.raises(errors.AlreadyDone, match="already booked for L1 support"):
        await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, now))

    # A session added at the same time in another programme: a double booking.
    added = await in_tx(
        database,
        lambda c: add_billing(c, config, monday + timedelta(minutes=30), now),
    )
    with pytest.raises(errors.Unavailable, match="another session at that time"):
        await in_tx(database, lambda c: svc.sign_up(c, config, added.id, ANA, now))

    with pytest.raises(errors.Unavailable, match="already has a session"):
        await in_tx(
            database,
            lambda c: add_billing(c, config, monday + timedelta(minutes=30), now),
        )
    with pytest.raises(errors.TooLate, match="has passed"):
        await in_tx(
            database,
            lambda c: add_billing(c, config, now - timedelta(hours=1), now),
        )


async def test_a_cancellation_promotes_the_first_in_line_who_is_free(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    monday = utc(2026, 12, 7, 9, 0)
    session_id = await _one_session(database, config, "l1", monday)
    t0 = monday - timedelta(days=3)
    for minute, user in enumerate((ANA, BEN, CAT, DAN)):
        await in_tx(
            database,
            lambda c, u=user, m=minute: svc.sign_up(c, config, session_id, u, t0 + timedelta(minutes=m)),
        )
    # CAT (first in line) has meanwhile booked another session at the same time.
    clash = await in_tx(database, lambda c: add_billing(c, config, monday, t0))
    await in_tx(database, lambda c: svc.sign_up(c, config, clash.id, CAT, t0 + timedelta(minutes=10)))

    result = await in_tx(database, lambda c: svc.cancel(c, config, session_id, ANA, t0 + timedelta(hours=1)))
    assert result.was == svc.BOOKED and result.promoted == DAN
    assert result.session.booked == (BEN, DAN) and result.session.waitlisted == (CAT,)
    assert any("A seat opened up for you" in t for t in await in_tx(database, lambda c: dms_to(c, DAN)))

    with pytest.raises(errors.NotYours, match="not signed up"):
        await in_tx(database, lambda c: svc.cancel(c, config, session_id, ANA, t0 + timedelta(hours=2)))


async def test_an_offered_seat_goes_to_the_first_who_takes_it(database: Database, make_config: Any) -> None:
    config = shadow_config(make_config)
    monday = utc(2026, 12, 7, 9, 0)
    session_id = await _one_session(database, config, "l1", monday)
    now = monday - timedelta(days=1)
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, now))
    await in_tx(database, lambda c: svc.offer_seat(c, config, session_id, ANA, now))
    with pytest.raises(errors.AlreadyDone, match="already on offer"):
        await in_tx(database, lambda c: svc.offer_seat(c, config, session_id, ANA, now))
    session = await in_tx(database, lambda c: svc.load_session(c, config, session_id))
    ((booking_id, owner),) = session.offered
    assert owner == ANA

    with pytest.raises(errors.NotYours, match="your own seat"):
        await in_tx(database, lambda c: svc.take_seat(c, config, booking_id, ANA, now))
    results = await asyncio.gather(
        in_tx(database, lambda c: svc.take_seat(c, config, booking_id, BEN, now)),
        in_tx(database, lambda c: svc.take_seat(c, config, booking_id, CAT, now)),
        return_exceptions=True,
    )
    taken = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, svc.ShadowError)]
    assert len(taken) == 1 and len(refused) == 1 and "took that seat already" in str(refused[0])
    after, offerer = taken[0]
    assert offerer == ANA and ANA not in after.booked and len(after.booked) == 1
    swap = [p for p in await in_tx(database, posts) if p.get("key") == svc.swap_key(booking_id)]
    assert len(swap) == 2 and swap[1].get("edit") is True  # the offer, then "taken by"


async def test_cancelling_an_offered_seat_withdraws_the_offer(database: Database, make_config: Any) -> None:
    config = shadow_config(make_config)
    monday = utc(2026, 12, 7, 9, 0)
    session_id = await _one_session(database, config, "l1", monday)
    now = monday - timedelta(days=1)
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, now))
    offered = await in_tx(database, lambda c: svc.offer_seat(c, config, session_id, ANA, now))
    ((booking_id, _),) = offered.offered
    await in_tx(database, lambda c: svc.cancel(c, config, session_id, ANA, now))
    swap = [p for p in await in_tx(database, posts) if p.get("key") == svc.swap_key(booking_id)]
    assert [p["text"] for p in swap] == [
        "Seat on offer: L1 support, Mon 7 Dec 10:00",
        "Offer withdrawn: L1 support, Mon 7 Dec 10:00",
    ]
    with pytest.raises(svc.ShadowError, match="took that seat already \\(or it was withdrawn\\)"):
        await in_tx(database, lambda c: svc.take_seat(c, config, booking_id, BEN, now))


async def test_cancelling_a_session_tells_everyone_signed_up(database: Database, make_config: Any) -> None:
    config = shadow_config(make_config)
    monday = utc(2026, 12, 7, 9, 0)
    session_id = await _one_session(database, config, "l1", monday)
    now = monday - timedelta(days=1)
    for user in (ANA, BEN, CAT):
        await in_tx(database, lambda c, u=user: svc.sign_up(c, config, session_id, u, now))
    await in_tx(database, lambda c: svc.cancel_session(c, config, session_id, HOST, now))
    for user in (ANA, BEN, CAT):
        assert any(
            t.startswith("Cancelled: L1 support")
            for t in await in_tx(database, lambda c, u=user: dms_to(c, u))
        )
    with pytest.raises(svc.ShadowError, match="was cancelled"):
        await in_tx(database, lambda c: svc.sign_up(c, config, session_id, DAN, now))
    assert await in_tx(database, lambda c: svc.materialize(c, config, now)) == 0  # stays cancelled


# -- fairness --------------------------------------------------------------------------------------


async def test_hours_per_person_and_the_monthly_nudge(database: Database, make_config: Any) -> None:
    config = shadow_config(make_config)
    # Q4 2026. ANA shadowed 1 h (held) and 1.5 h (booked ahead); BEN 1 h held; CAT nothing.
    for month in (10, 11):  # sessions are made 28 days ahead
        await in_tx(database, lambda c, m=month: svc.materialize(c, config, utc(2026, m, 20, 0, 0)))
    held = await in_tx(database, lambda c: session_at(c, "l1", utc(2026, 11, 2, 9, 0)))
    ahead = await in_tx(database, lambda c: session_at(c, "billing", utc(2026, 12, 1, 13, 0)))
    early = utc(2026, 10, 20, 9, 0)
    await in_tx(database, lambda c: svc.sign_up(c, config, held, ANA, early))
    await in_tx(database, lambda c: svc.sign_up(c, config, held, BEN, early))
    await in_tx(database, lambda c: svc.sign_up(c, config, ahead, ANA, early))

    nudge_at = utc(2026, 12, 1, 9, 0)  # 1 December 10:00 in Berlin: expected 2 h by the quarter's end
    start, end, label = svc.quarter_of(nudge_at, config)
    assert label == "Q4 2026" and start == utc(2026, 9, 30, 22, 0) and end == utc(2026, 12, 31, 23, 0)
    hours = await in_tx(database, lambda c: svc.hours_by_person(c, start, end, nudge_at))
    assert hours[ANA] == svc.Hours(done=1.0, booked=1.5)
    assert hours[BEN] == svc.Hours(done=1.0, booked=0.0)
    assert CAT not in hours
    assert svc.expected_hours(config, nudge_at) == 2

    group = [ANA, BEN, CAT]
    assert await in_tx(database, lambda c: due.nudges(c, config, nudge_at - timedelta(minutes=1), group)) == 0
    assert await in_tx(database, lambda c: due.nudges(c, config, nudge_at, group)) == 2  # BEN and CAT
    assert await in_tx(database, lambda c: due.nudges(c, config, nudge_at + timedelta(minutes=5), group)) == 0
    assert not any(t.startswith("Shadowing:") for t in await in_tx(database, lambda c: dms_to(c, ANA)))
    assert any(
        t.startswith("Shadowing: 0 of 2 hours in Q4 2026")
        for t in await in_tx(database, lambda c: dms_to(c, CAT))
    )


# -- onboarding and feedback -----------------------------------------------------------------------


async def test_onboarding_books_one_session_a_day_across_programmes(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    now = utc(2026, 12, 4, 12, 0)  # Friday
    start = date(2026, 12, 7)  # Monday
    plan = await in_tx(database, lambda c: svc.onboard(c, config, DAN, HOST, start, now))
    assert [d.day for d in plan.days] == [date(2026, 12, d) for d in (7, 8, 9, 10, 11)]
    assert [d.session.programme if d.session else None for d in plan.days] == [
        "l1",
        "billing",
        None,
        None,
        None,
    ]
    assert plan.days[2].reason == "no open session that day"
    assert plan.empty_days == [date(2026, 12, d) for d in (9, 10, 11)]
    # Wednesday to Friday have nothing: the next free sessions are offered instead.
    assert [(s.programme, s.starts_at) for s in plan.suggestions] == [
        ("l1", utc(2026, 12, 13, 9, 0)),
        ("l1", utc(2026, 12, 14, 9, 0)),
        ("billing", utc(2026, 12, 15, 13, 0)),
    ]
    assert decode_plan(encode_plan(plan)) == plan
    texts = await in_tx(database, lambda c: dms_to(c, DAN))
    assert "Your first-week shadowing plan: 2 sessions" in texts
    assert sum(t.startswith("Booked for you") for t in texts) == 2
    mine = await in_tx(database, lambda c: svc.sessions_of(c, config, DAN, now))
    assert [status for _, status in mine] == [svc.BOOKED, svc.BOOKED]


async def test_onboarding_counts_the_bookings_the_person_has_already(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config)
    now = utc(2026, 12, 4, 12, 0)  # Friday
    await in_tx(database, lambda c: svc.materialize(c, config, now))
    monday = await in_tx(database, lambda c: session_at(c, "l1", utc(2026, 12, 7, 9, 0)))
    await in_tx(database, lambda c: svc.sign_up(c, config, monday, DAN, now))
    plan = await in_tx(database, lambda c: svc.onboard(c, config, DAN, HOST, date(2026, 12, 7), now))
    assert plan.days[0].session is not None and plan.days[0].session.id == monday
    assert plan.days[0].existing and plan.existing == 1
    assert [d.session.programme if d.session else None for d in plan.days][:2] == ["l1", "billing"]
    texts = await in_tx(database, lambda c: dms_to(c, DAN))
    # One confirmation from the sign-up, one for Tuesday's booking: Monday is not booked twice.
    assert sum(t.startswith(("Booked:", "Booked for you")) for t in texts) == 2
    mine = await in_tx(database, lambda c: svc.sessions_of(c, config, DAN, now))
    assert len(mine) == 2


async def test_a_plan_with_nothing_booked_says_so_and_promises_no_reminders(
    database: Database, make_config: Any
) -> None:
    config = shadow_config(make_config, onboarding={"days": 3})
    now = utc(2026, 12, 4, 12, 0)  # Friday
    start = date(2026, 12, 9)  # Wednesday to Friday: no session on any of them
    plan = await in_tx(database, lambda c: svc.onboard(c, config, DAN, HOST, start, now))
    assert plan.booked == [] and plan.empty_days == [date(2026, 12, d) for d in (9, 10, 11)]
    assert plan.suggestions[0].starts_at == utc(2026, 12, 13, 9, 0)
    dm = next(p for p in await in_tx(database, posts) if p["channel"] == DAN)
    assert dm["text"] == "Your first-week shadowing plan: nothing booked yet"
    shown = json.dumps(dm["blocks"])
    assert "nothing is booked yet" in shown and "reminder" not in shown
    assert shown.count(f'"action_id": "{Action.SHADOW_SIGN_UP}"') == 3  # the next free ones, to book


async def test_feedback_is_stored_posted_and_noted_on_the_problems_seen(
    database: Database, make_config: Any
) -> None:
    from bot.domain.intake import Customer, IntakeRequest
    from bot.services.intake import ingest_issue

    config = shadow_config(make_config)
    outcome = await ingest_issue(
        database,
        config,
        IntakeRequest(
            external_id="fb-1",
            source="webform",
            subject="CSV export empty",
            body="The export has no rows.",
            customer=Customer(id="c1", email="c1@example.test"),
        ),
    )
    issue_id = outcome.issue_id
    monday = utc(2026, 12, 7, 9, 0)
    session_id = await _one_session(database, config, "l1", monday)
    await in_tx(database, lambda c: svc.sign_up(c, config, session_id, ANA, monday - timedelta(days=1)))
    assert (
        await in_tx(database, lambda c: due.feedback_prompts(c, config, monday + timedelta(minutes=59))) == 0
    )
    assert await in_tx(database, lambda c: due.feedback_prompts(c, config, monday + timedelta(hours=1))) == 1
    assert await in_tx(database, lambda c: due.feedback_prompts(c, config, monday + timedelta(hours=2))) == 0

    problem_id = await in_tx(
        database,
        lambda c: c.execute(select(problems.c.id).where(problems.c.primary_issue_id == issue_id)).scalar(),
    )
    with pytest.raises(svc.ShadowError, match="weren't booked"):
        await in_tx(database, lambda c: svc.record_feedback(c, config, session_id, BEN, "hi", []))
    await in_tx(
        database,
        lambda c: svc.record_feedback(c, config, session_id, ANA, "Exports hurt.", [problem_id, 999]),
    )
    with pytest.raises(svc.ShadowError, match="already shared feedback"):  # a second submit posts nothing
        await in_tx(database, lambda c: svc.record_feedback(c, config, session_id, ANA, "Again.", []))
    feedback_posts = [
        p for p in await in_tx(database, posts) if p.get("render") == PostRenderer.SHADOW_FEEDBACK
    ]
    assert feedback_posts == [
        {
            "v": 1,
            "channel": CHANNEL,
            "render": PostRenderer.SHADOW_FEEDBACK,
            "args": {"session": session_id, "user": ANA},
        }
    ]
    kinds = await in_tx(
        database,
        lambda c: list(
            c.execute(select(issue_events.c.kind).where(issue_events.c.issue_id == issue_id)).scalars()
        ),
    )
    assert "seen_while_shadowing" in kinds


def test_a_session_and_a_plan_read_back_from_a_payload_as_they_were() -> None:
    session = svc.Session(
        id=7,
        programme="l1",
        name="L1 support",
        starts_at=utc(2026, 12, 7, 9, 0),
        ends_at=utc(2026, 12, 7, 10, 0),
        capacity=2,
        location=None,
        hosts=(HOST, "S0GROUP001"),
        status="scheduled",
        booked=(ANA, BEN),
        waitlisted=(CAT,),
        offered=((41, BEN),),
        waitlist_allowed=False,
    )
    payload = json.loads(json.dumps(encode_session(session)))
    assert decode_session(payload) == session
    plan = svc.Plan(
        ANA, [svc.PlanDay(date(2026, 12, 7), session), svc.PlanDay(date(2026, 12, 8), None, "full")]
    )
    assert decode_plan(json.loads(json.dumps(encode_plan(plan)))) == plan
