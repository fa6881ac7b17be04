"""Support-shadowing rotations: sessions, sign-ups, the waitlist, seat swaps, feedback and fairness.

Every function runs inside the caller's transaction and enqueues what people must be told in it, so a
booking and its confirmation commit together. A session's seats are counted under a lock on the
session's row (`FOR UPDATE` on PostgreSQL; SQLite's single writer does the same): two people taking
the last seat at once get one booking and one waitlist place (or a clear refusal), never two bookings.

Bookings are one row per person and session: `booked`, `waitlisted` (served in `queued_at` order) or
`cancelled`. A booked seat can be "offered": it stays the owner's until someone takes it in one click.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.engine import Connection

from bot.config import AppConfig, Programme
from bot.domain.errors import (
    AlreadyDone,
    DomainError,
    NotConfigured,
    NotFound,
    NotYours,
    TooLate,
    Unavailable,
)
from bot.domain.outbox import PostRenderer, TellHosts
from bot.domain.shadowing import (
    BOOKED,
    CANCELLED,
    LIVE,
    WAITLISTED,
    Cancelled,
    DmState,
    Hours,
    Plan,
    PlanDay,
    Session,
    SignUp,
    encode_plan,
    encode_session,
    session_title,
    when,
)
from bot.services import outbox
from bot.services.home import refresh_home
from bot.services.posts import enqueue_post, posted
from bot.services.triage import note
from bot.sla import WEEKDAYS
from bot.when import local_at, local_date
from db.models import posted_messages, problems, shadow_bookings, shadow_sessions, utcnow
from db.queries import seconds_between, upsert_for


class ShadowError(DomainError):
    """A shadowing request that cannot be done; the message says why, for the person who asked, and
    the subclass what kind of refusal it is (`bot.domain.errors`)."""


class ShadowNotFound(ShadowError, NotFound):
    """The session, offer or booking named does not exist (any more)."""


class ShadowTooLate(ShadowError, TooLate):
    """The session has started, is over or was cancelled, or the time asked for has passed."""


class ShadowAlreadyDone(ShadowError, AlreadyDone):
    """Booked, waitlisted, offered, cancelled or given feedback already."""


class ShadowNotYours(ShadowError, NotYours):
    """Not the asker's seat or session: offering, cancelling or reviewing someone else's."""


class ShadowUnavailable(ShadowError, Unavailable):
    """Someone else holds it: the seat was taken, the session is full, a clashing booking."""


class ShadowNotConfigured(ShadowError, NotConfigured):
    """The programme asked for is not (or no longer) configured."""


# -- reading ---------------------------------------------------------------------------------------


def _programme(config: AppConfig, programme_id: str) -> Programme | None:
    return config.shadowing.programme(programme_id)


def _session(config: AppConfig, row: Any, bookings: Iterable[Any] = ()) -> Session:
    programme = _programme(config, row.programme)
    booked: list[str] = []
    waitlisted: list[str] = []
    offered: list[tuple[int, str]] = []
    for b in sorted(bookings, key=lambda b: (b.queued_at, b.id)):
        if b.status == BOOKED:
            booked.append(b.user_id)
            if b.offered_at is not None:
                offered.append((b.id, b.user_id))
        elif b.status == WAITLISTED:
            waitlisted.append(b.user_id)
    return Session(
        id=row.id,
        programme=row.programme,
        name=programme.name if programme else row.programme,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        capacity=row.capacity,
        location=row.location,
        hosts=tuple(row.hosts or (programme.hosts if programme else [])),
        status=row.status,
        booked=tuple(booked),
        waitlisted=tuple(waitlisted),
        offered=tuple(offered),
        waitlist_allowed=programme.waitlist if programme else True,
    )


def _bookings_of(conn: Connection, session_ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {sid: [] for sid in session_ids}
    if not session_ids:
        return found
    rows = conn.execute(
        select(shadow_bookings).where(
            shadow_bookings.c.session_id.in_(session_ids), shadow_bookings.c.status.in_(LIVE)
        )
    ).all()
    for row in rows:
        found[row.session_id].append(row)
    return found


def sessions_between(
    conn: Connection,
    config: AppConfig,
    start: datetime,
    end: datetime,
    *,
    programme: str | None = None,
    include_cancelled: bool = False,
) -> list[Session]:
    query = select(shadow_sessions).where(
        shadow_sessions.c.starts_at >= start, shadow_sessions.c.starts_at < end
    )
    if programme is not None:
        query = query.where(shadow_sessions.c.programme == programme)
    if not include_cancelled:
        query = query.where(shadow_sessions.c.status == "scheduled")
    rows = conn.execute(query.order_by(shadow_sessions.c.starts_at, shadow_sessions.c.id)).all()
    bookings = _bookings_of(conn, [r.id for r in rows])
    return [_session(config, r, bookings[r.id]) for r in rows]


def load_session(conn: Connection, config: AppConfig, session_id: int, *, lock: bool = False) -> Session:
    query = select(shadow_sessions).where(shadow_sessions.c.id == session_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise ShadowNotFound(f"There is no shadowing session #{session_id}.")
    return _session(config, row, _bookings_of(conn, [session_id])[session_id])


def sessions_of(conn: Connection, config: AppConfig, user: str, now: datetime) -> list[tuple[Session, str]]:
    """The person's upcoming sessions and their place in each (booked or waitlisted)."""
    rows = conn.execute(
        select(shadow_sessions, shadow_bookings.c.status.label("booking_status"))
        .join(shadow_bookings, shadow_bookings.c.session_id == shadow_sessions.c.id)
        .where(
            shadow_bookings.c.user_id == user,
            shadow_bookings.c.status.in_(LIVE),
            shadow_sessions.c.status == "scheduled",
            shadow_sessions.c.ends_at > now,
        )
        .order_by(shadow_sessions.c.starts_at)
    ).all()
    bookings = _bookings_of(conn, [r.id for r in rows])
    return [(_session(config, r, bookings[r.id]), r.booking_status) for r in rows]


def open_sessions(
    conn: Connection, config: AppConfig, now: datetime, *, days: int = 14, limit: int = 10
) -> list[Session]:
    """Upcoming sessions with a free seat (or a waitlist), soonest first."""
    sessions = sessions_between(conn, config, now, now + timedelta(days=days))
    return [s for s in sessions if s.seats_left or s.waitlist_allowed][:limit]


# -- recurring sessions ------------------------------------------------------------------------------


def materialize(conn: Connection, config: AppConfig, now: datetime) -> int:
    """Create the recurring sessions of the next `horizon_days` (idempotent: one per programme and
    start time; a cancelled one stays cancelled). Returns how many were new."""
    zone = config.zone
    end = now + timedelta(days=config.shadowing.horizon_days)
    created = 0
    for programme in config.shadowing.programmes:
        for rule in programme.sessions:
            day = local_date(now, zone)
            last = local_date(end, zone)
            while day <= last:
                if day.weekday() == WEEKDAYS.index(rule.weekday):
                    starts = local_at(day, rule.time, zone)
                    if now <= starts < end:
                        created += _insert_session(
                            conn,
                            programme=programme.id,
                            starts_at=starts,
                            ends_at=starts + rule.duration,
                            capacity=programme.capacity,
                            location=programme.where,
                            origin="recurring",
                        )
                day += timedelta(days=1)
    return created


def _insert_session(conn: Connection, **values: Any) -> int:
    now = utcnow()
    result = conn.execute(
        upsert_for(conn, shadow_sessions)
        .values(status="scheduled", created_at=now, updated_at=now, **values)
        .on_conflict_do_nothing()
    )
    return int(result.rowcount or 0)


# -- signing up ------------------------------------------------------------------------------------------


def _clash(conn: Connection, user: str, session: Session) -> Any:
    return conn.execute(
        select(shadow_sessions.c.id, shadow_sessions.c.programme, shadow_sessions.c.starts_at)
        .join(shadow_bookings, shadow_bookings.c.session_id == shadow_sessions.c.id)
        .where(
            shadow_bookings.c.user_id == user,
            shadow_bookings.c.status == BOOKED,
            shadow_sessions.c.status == "scheduled",
            shadow_sessions.c.id != session.id,
            shadow_sessions.c.starts_at < session.ends_at,
            shadow_sessions.c.ends_at > session.starts_at,
        )
        .limit(1)
    ).first()


def _set_booking(
    conn: Connection, session_id: int, user: str, status: str, now: datetime, **values: Any
) -> None:
    """`now` is when the person joined (or left) the line: the waitlist's order and the reminders'
    "booked before it was due" both read it."""
    conn.execute(
        upsert_for(conn, shadow_bookings)
        .values(
            session_id=session_id,
            user_id=user,
            status=status,
            queued_at=now,
            created_at=now,
            updated_at=now,
            **values,
        )
        .on_conflict_do_update(
            index_elements=["session_id", "user_id"],
            set_={
                "status": status,
                "queued_at": now,
                "offered_at": None,
                "updated_at": now,
                **values,
            },
        )
    )


def sign_up(
    conn: Connection,
    config: AppConfig,
    session_id: int,
    user: str,
    now: datetime,
    *,
    by: str | None = None,
    plan: str | None = None,
    waitlist: bool = True,
) -> SignUp:
    """Book a seat, or a waitlist place when the session is full (if the programme keeps a waitlist
    and `waitlist` is asked for). Refused: a past or cancelled session, a double booking, a full
    session without waitlist."""
    session = load_session(conn, config, session_id, lock=True)
    if session.status != "scheduled":
        raise ShadowTooLate(f"{session_title(session, config.zone)} was cancelled.")
    if session.starts_at <= now:
        raise ShadowTooLate(f"{session_title(session, config.zone)} has already started.")
    current = session.status_of(user)
    if current == BOOKED:
        raise ShadowAlreadyDone(f"You're already booked for {session_title(session, config.zone)}.")
    if current == WAITLISTED:
        position = session.waitlisted.index(user) + 1
        raise ShadowAlreadyDone(f"You're already #{position} on the waitlist for this session.")
    clash = _clash(conn, user, session)
    if clash is not None:
        who = "They're" if by and by != user else "You're"
        raise ShadowUnavailable(
            f"{who} already booked for another session at that time "
            f"({when(clash.starts_at, config.zone)}); one session at a time."
        )
    extra = {"booked_by": by if by and by != user else None, "plan": plan}
    if session.seats_left > 0:
        _set_booking(conn, session.id, user, BOOKED, now, **extra)
        signed = SignUp(load_session(conn, config, session.id), BOOKED)
        _after_change(conn, config, signed.session, [user], by=by)
        _confirm_booked(conn, config, signed.session, user, by=by)
        _tell_hosts(conn, signed.session, "joined", user)
        return signed
    if not (session.waitlist_allowed and waitlist):
        raise ShadowUnavailable(
            f"{session_title(session, config.zone)} is full"
            + ("" if session.waitlist_allowed else " and this programme keeps no waitlist")
            + ". Try another session: `/shadow`."
        )
    _set_booking(conn, session.id, user, WAITLISTED, now, **extra)
    signed = SignUp(load_session(conn, config, session.id), WAITLISTED, len(session.waitlisted) + 1)
    _after_change(conn, config, signed.session, [user], by=by)
    _dm(conn, user, PostRenderer.SHADOW_WAITLISTED, signed.session, live=True, position=signed.position)
    return signed


def cancel(conn: Connection, config: AppConfig, session_id: int, user: str, now: datetime) -> Cancelled:
    """Give up a seat or a waitlist place; the first in line who is free at that time gets the seat."""
    session = load_session(conn, config, session_id, lock=True)
    was = session.status_of(user)
    if was is None:
        raise ShadowNotYours("You're not signed up for that session.")
    if session.starts_at <= now:
        raise ShadowTooLate("That session has already started; nothing to cancel.")
    offered = dict((owner, booking) for booking, owner in session.offered).get(user)
    _set_booking(conn, session.id, user, CANCELLED, now)
    promoted = _promote(conn, config, session.id, now) if was == BOOKED else None
    after = load_session(conn, config, session.id)
    if offered is not None:  # the seat was on offer: the swap post must not offer it any more
        enqueue_post(
            conn,
            channel=after_programme_channel(config, after),
            key=swap_key(offered),
            render=PostRenderer.SHADOW_SWAP_WITHDRAWN,
            args={"session": encode_session(after), "owner": user},
            edit=True,
        )
    _after_change(conn, config, after, [user, *([promoted] if promoted else [])])
    if was == BOOKED:
        _tell_hosts(conn, after, "left", user)
    return Cancelled(after, was, promoted)


def _promote(conn: Connection, config: AppConfig, session_id: int, now: datetime) -> str | None:
    session = load_session(conn, config, session_id)
    if session.seats_left <= 0:
        return None
    for candidate in session.waitlisted:
        if _clash(conn, candidate, session) is not None:
            continue  # booked elsewhere at that time since joining the waitlist: stays in line
        _set_booking(conn, session_id, candidate, BOOKED, now)
        after = load_session(conn, config, session_id)
        _dm(conn, candidate, PostRenderer.SHADOW_PROMOTED, after, live=True)
        _tell_hosts(conn, after, "joined", candidate)
        return candidate
    return None


def offer_seat(conn: Connection, config: AppConfig, session_id: int, user: str, now: datetime) -> Session:
    """Put a booked seat on offer: a post in the programme's channel lets anyone take it."""
    session = load_session(conn, config, session_id, lock=True)
    if session.status_of(user) != BOOKED:
        raise ShadowNotYours("You can only offer a seat you have booked.")
    if session.starts_at <= now:
        raise ShadowTooLate("That session has already started.")
    booking_id = conn.execute(
        update(shadow_bookings)
        .where(
            shadow_bookings.c.session_id == session_id,
            shadow_bookings.c.user_id == user,
            shadow_bookings.c.offered_at.is_(None),
        )
        .values(offered_at=now, updated_at=utcnow())
        .returning(shadow_bookings.c.id)
    ).scalar()
    if booking_id is None:
        raise ShadowAlreadyDone("Your seat is already on offer.")
    programme = _programme(config, session.programme)
    after = load_session(conn, config, session_id)
    if programme is not None:
        enqueue_post(
            conn,
            channel=programme.channel,
            key=swap_key(booking_id),
            render=PostRenderer.SHADOW_SWAP,
            args=_swap_args(after, user, booking_id, taken_by=None),
        )
    _after_change(conn, config, after, [user])
    return after


def take_seat(
    conn: Connection, config: AppConfig, booking_id: int, taker: str, now: datetime
) -> tuple[Session, str]:
    """Take an offered seat: the offerer's booking ends and the taker's begins, in one step."""
    offer = conn.execute(select(shadow_bookings).where(shadow_bookings.c.id == booking_id)).first()
    if offer is None:
        raise ShadowNotFound("That offer no longer exists.")
    session = load_session(conn, config, offer.session_id, lock=True)
    offer = conn.execute(select(shadow_bookings).where(shadow_bookings.c.id == booking_id)).first()
    if offer is None or offer.status != BOOKED or offer.offered_at is None:
        raise ShadowUnavailable("Someone else took that seat already (or it was withdrawn).")
    if offer.user_id == taker:
        raise ShadowNotYours("That's your own seat; use Cancel if you can't make it.")
    if session.starts_at <= now:
        raise ShadowTooLate("That session has already started.")
    if session.status_of(taker) == BOOKED:
        raise ShadowAlreadyDone("You're already booked for that session.")
    clash = _clash(conn, taker, session)
    if clash is not None:
        raise ShadowUnavailable(
            f"You're already booked for another session at that time ({when(clash.starts_at, config.zone)})."
        )
    _set_booking(conn, session.id, offer.user_id, CANCELLED, now)
    _set_booking(conn, session.id, taker, BOOKED, now)
    after = load_session(conn, config, session.id)
    enqueue_post(
        conn,
        channel=after_programme_channel(config, after),
        key=swap_key(booking_id),
        render=PostRenderer.SHADOW_SWAP,
        args=_swap_args(after, offer.user_id, booking_id, taken_by=taker),
        edit=True,
    )
    _dm(conn, offer.user_id, PostRenderer.SHADOW_SEAT_TAKEN, after, taker=taker)
    _confirm_booked(conn, config, after, taker)
    _tell_hosts(conn, after, "swapped", taker, swapped_from=offer.user_id)
    _after_change(conn, config, after, [offer.user_id, taker])
    return after, offer.user_id


def after_programme_channel(config: AppConfig, session: Session) -> str:
    programme = _programme(config, session.programme)
    if programme is None:
        raise ShadowNotConfigured(f"The programme {session.programme!r} is no longer configured.")
    return programme.channel


def swap_key(booking_id: int) -> str:
    return f"shadow-swap:{booking_id}"


# -- hosts and admins: single sessions -----------------------------------------------------------------


def add_session(
    conn: Connection,
    config: AppConfig,
    programme: Programme,
    starts_at: datetime,
    duration: timedelta,
    *,
    capacity: int | None,
    location: str | None,
    by: str,
    now: datetime,
) -> Session:
    if starts_at <= now:
        raise ShadowTooLate("That time has passed; pick a time in the future.")
    created = _insert_session(
        conn,
        programme=programme.id,
        starts_at=starts_at,
        ends_at=starts_at + duration,
        capacity=capacity or programme.capacity,
        location=location or programme.where,
        origin="added",
        created_by=by,
    )
    if not created:
        raise ShadowUnavailable(f"{programme.name} already has a session at {when(starts_at, config.zone)}.")
    row_id = conn.execute(
        select(shadow_sessions.c.id).where(
            shadow_sessions.c.programme == programme.id, shadow_sessions.c.starts_at == starts_at
        )
    ).scalar_one()
    session = load_session(conn, config, row_id)
    refresh_week_post(conn, config, session)
    return session


def cancel_session(conn: Connection, config: AppConfig, session_id: int, by: str, now: datetime) -> Session:
    """Cancel one session: everyone booked or waiting is told."""
    session = load_session(conn, config, session_id, lock=True)
    if session.status != "scheduled":
        raise ShadowAlreadyDone("That session is already cancelled.")
    if session.ends_at <= now:
        raise ShadowTooLate("That session is over.")
    conn.execute(
        update(shadow_sessions)
        .where(shadow_sessions.c.id == session_id)
        .values(status="cancelled", cancelled_by=by, cancelled_at=utcnow(), updated_at=utcnow())
    )
    people = [*session.booked, *session.waitlisted]
    conn.execute(
        update(shadow_bookings)
        .where(shadow_bookings.c.session_id == session_id, shadow_bookings.c.status.in_(LIVE))
        .values(status=CANCELLED, updated_at=utcnow())
    )
    after = load_session(conn, config, session_id)
    for user in people:
        _dm(conn, user, PostRenderer.SHADOW_SESSION_CANCELLED, after, by=by)
    _after_change(conn, config, after, people)
    return after


# -- feedback ----------------------------------------------------------------------------------------


def record_feedback(
    conn: Connection,
    config: AppConfig,
    session_id: int,
    user: str,
    learned: str,
    problem_ids: list[int],
) -> Session:
    session = load_session(conn, config, session_id)
    booking = conn.execute(
        select(shadow_bookings.c.id, shadow_bookings.c.status, shadow_bookings.c.feedback).where(
            shadow_bookings.c.session_id == session_id, shadow_bookings.c.user_id == user
        )
    ).first()
    if booking is None or booking.status != BOOKED:
        raise ShadowNotYours("You weren't booked for that session, so there's no feedback to give.")
    if booking.feedback:
        raise ShadowAlreadyDone("You already shared feedback for that session. Thank you!")
    known = set(
        conn.execute(select(problems.c.id).where(problems.c.id.in_(problem_ids))).scalars().all()
        if problem_ids
        else []
    )
    problem_ids = [p for p in problem_ids if p in known]
    conn.execute(
        update(shadow_bookings)
        .where(shadow_bookings.c.id == booking.id)
        .values(feedback={"learned": learned, "problems": problem_ids}, feedback_at=utcnow())
    )
    programme = _programme(config, session.programme)
    if programme is not None:
        week_key = week_post_key(config, session)
        enqueue_post(
            conn,
            channel=programme.channel,
            thread=week_key if posted(conn, week_key) is not None else None,
            render=PostRenderer.SHADOW_FEEDBACK,
            args={"session": session.id, "user": user},
        )
    for problem_id in problem_ids:
        primary = conn.execute(
            select(problems.c.primary_issue_id).where(problems.c.id == problem_id)
        ).scalar()
        if primary is not None:
            note(conn, primary, "seen_while_shadowing", user, {"session": session.id}, sync=False)
    refresh_dms(conn, session.id, [user])  # the "Share feedback" button has done its work
    return session


# -- the weekly post ---------------------------------------------------------------------------------------


def week_post_key(config: AppConfig, session: Session) -> str:
    """The weekly post that lists this session: the latest posting time at or before its start."""
    posted_at = config.shadowing.weekly_post.latest(session.starts_at, config.zone)
    return f"shadow-week:{session.programme}:{posted_at.astimezone(config.zone).date().isoformat()}"


def refresh_week_post(conn: Connection, config: AppConfig, session: Session) -> None:
    programme = _programme(config, session.programme)
    if programme is None:
        return
    posted_at = config.shadowing.weekly_post.latest(session.starts_at, config.zone)
    enqueue_post(
        conn,
        channel=programme.channel,
        key=week_post_key(config, session),
        render=PostRenderer.SHADOW_WEEK,
        args={"programme": programme.id, "from": posted_at.isoformat()},
        edit=True,
    )


def _after_change(
    conn: Connection, config: AppConfig, session: Session, people: list[str], by: str | None = None
) -> None:
    refresh_week_post(conn, config, session)
    for user in {*people, *([by] if by else [])}:
        refresh_home(conn, user)
    refresh_dms(conn, session.id, people)


# Direct messages about one session that carry controls (Cancel, Offer my seat, Share feedback) are
# keyed "shadow-dm:<session>:<user>:<tag>", so `posted_messages` remembers where each one is and a
# change of state re-renders every one of them without the controls that no longer apply.
def dm_key_prefix(session_id: int, user: str) -> str:
    return f"shadow-dm:{session_id}:{user}:"


def feedback_prompt_key(session_id: int, user: str) -> str:
    return dm_key_prefix(session_id, user) + "feedback"


def refresh_dms(conn: Connection, session_id: int, people: Iterable[str]) -> None:
    """Re-render the posted DMs about this session of these people from the state now (each is
    rendered when sent, so several changes in a row edit each message once)."""
    for user in set(people):
        prefix = dm_key_prefix(session_id, user)
        keys = conn.execute(
            select(posted_messages.c.key).where(posted_messages.c.key.like(prefix + "%"))
        ).scalars()
        for key in list(keys):
            enqueue_post(
                conn,
                channel=user,
                key=key,
                render=PostRenderer.SHADOW_DM_STATE,
                args={
                    "session": session_id,
                    "user": user,
                    "prompt": key == feedback_prompt_key(session_id, user),
                },
                edit=True,
            )


def is_session_dm(conn: Connection, channel: str, ts: str) -> bool:
    """Whether this posted message is a keyed DM about one session (see `refresh_dms`)."""
    key = conn.execute(
        select(posted_messages.c.key).where(posted_messages.c.channel == channel, posted_messages.c.ts == ts)
    ).scalar()
    return bool(key and key.startswith("shadow-dm:"))


def dm_state(conn: Connection, config: AppConfig, session_id: int, user: str) -> DmState | None:
    """What an earlier DM about the session must show now: the session, the person's place in it and
    whether they gave feedback; None when the session is gone."""
    try:
        session = load_session(conn, config, session_id)
    except ShadowNotFound:
        return None
    feedback = conn.execute(
        select(shadow_bookings.c.feedback).where(
            shadow_bookings.c.session_id == session_id, shadow_bookings.c.user_id == user
        )
    ).scalar()
    return DmState(session, user, session.status_of(user), bool(feedback), utcnow())


def _confirm_booked(
    conn: Connection, config: AppConfig, session: Session, user: str, by: str | None = None
) -> None:
    _dm(conn, user, PostRenderer.SHADOW_BOOKED, session, live=True, by=by if by != user else None)


def _dm(
    conn: Connection, user: str, render: PostRenderer, session: Session, *, live: bool = False, **args: Any
) -> None:
    """A direct message about `session`, rendered when it is sent from the session as it is now;
    `live` when it carries controls, so later changes can take them away (`refresh_dms`)."""
    key = dm_key_prefix(session.id, user) + uuid.uuid4().hex[:16] if live else None
    if live:
        args["user"] = user
    enqueue_post(
        conn, channel=user, key=key, render=render, args={"session": encode_session(session), **args}
    )


def _swap_args(session: Session, owner: str, booking_id: int, taken_by: str | None) -> dict[str, Any]:
    return {"session": encode_session(session), "owner": owner, "booking": booking_id, "taken_by": taken_by}


def _tell_hosts(
    conn: Connection, session: Session, what: str, user: str, swapped_from: str | None = None
) -> None:
    outbox.enqueue_in(conn, TellHosts(session=session.id, what=what, user=user, swapped_from=swapped_from))


# -- fairness ----------------------------------------------------------------------------------------------


def quarter_of(moment: datetime, config: AppConfig) -> tuple[datetime, datetime, str]:
    local = moment.astimezone(config.zone).date()
    first_month = 3 * ((local.month - 1) // 3) + 1
    start = date(local.year, first_month, 1)
    end = date(local.year + (first_month + 3 > 12), (first_month + 3 - 1) % 12 + 1, 1)
    label = f"Q{(first_month - 1) // 3 + 1} {local.year}"
    return local_at(start, time(0, 0), config.zone), local_at(end, time(0, 0), config.zone), label


def hours_by_person(
    conn: Connection, start: datetime, end: datetime, now: datetime, people: Iterable[str] | None = None
) -> dict[str, Hours]:
    """Shadowing hours per person in [start, end): held and still booked, summed in SQL."""
    duration = _duration_seconds(conn)
    held = shadow_sessions.c.ends_at <= now
    query = (
        select(
            shadow_bookings.c.user_id,
            func.sum(case((held, duration), else_=0)).label("done"),
            func.sum(case((held, 0), else_=duration)).label("booked"),
        )
        .join(shadow_sessions, shadow_sessions.c.id == shadow_bookings.c.session_id)
        .where(
            shadow_bookings.c.status == BOOKED,
            shadow_sessions.c.status == "scheduled",
            shadow_sessions.c.starts_at >= start,
            shadow_sessions.c.starts_at < end,
        )
        .group_by(shadow_bookings.c.user_id)
    )
    if people is not None:
        query = query.where(shadow_bookings.c.user_id.in_(list(people)))
    return {
        # Whole minutes: SQLite's julianday() arithmetic is off by fractions of a second.
        row.user_id: Hours(round(float(row.done or 0) / 60) / 60, round(float(row.booked or 0) / 60) / 60)
        for row in conn.execute(query).all()
    }


def _duration_seconds(conn: Connection) -> Any:
    return seconds_between(conn, shadow_sessions.c.starts_at, shadow_sessions.c.ends_at)


def expected_hours(config: AppConfig, now: datetime) -> float:
    """The share of the quarter's target due by the end of the current month (1/3, 2/3, all)."""
    fairness = config.shadowing.fairness
    if fairness is None:
        return 0.0
    month = now.astimezone(config.zone).month
    return fairness.target_hours * (((month - 1) % 3) + 1) / 3


# -- onboarding ---------------------------------------------------------------------------------------------


def next_working_day(config: AppConfig, day: date) -> date:
    """The first working day (the business-hours days of the `sla` section) after `day`."""
    return working_days(config, day + timedelta(days=1), 1)[0]


def working_days(config: AppConfig, start: date, count: int) -> list[date]:
    allowed = config.sla.business_hours.weekdays
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() in allowed:
            days.append(day)
        day += timedelta(days=1)
    return days


SUGGESTED = 3  # free sessions offered when some days of a first-week plan have none


def onboard(conn: Connection, config: AppConfig, person: str, by: str, start: date, now: datetime) -> Plan:
    """A first-week plan: one session a day for `onboarding.days` working days, spread across the
    onboarding programmes (each programme once before any repeats), booked for the new hire. A day on
    which the person is booked already (any programme) counts as planned. When some days have no free
    session, the plan carries the next free sessions to offer instead."""
    programmes = [p for p in config.shadowing.programmes if p.onboarding]
    if not programmes:
        raise ShadowNotConfigured("No shadowing programme is open to onboarding (set `onboarding: true`).")
    materialize(conn, config, now)
    zone = config.zone
    already: dict[date, Session] = {}
    for session, status in sessions_of(conn, config, person, now):
        if status == BOOKED:
            already.setdefault(local_date(session.starts_at, zone), session)
    days: list[PlanDay] = []
    used: dict[str, int] = {p.id: 0 for p in programmes}
    for session in already.values():
        if session.programme in used:
            used[session.programme] += 1
    for day in working_days(config, start, config.shadowing.onboarding.days):
        if day in already:
            days.append(PlanDay(day, already[day], existing=True))
            continue
        begin = local_at(day, time(0, 0), zone)
        end = local_at(day + timedelta(days=1), time(0, 0), zone)
        candidates = [
            s
            for s in sessions_between(conn, config, max(begin, now), end)
            if s.programme in used and s.seats_left > 0 and s.status_of(person) is None
        ]
        candidates.sort(key=lambda s: (used[s.programme], s.starts_at))
        entry = PlanDay(day)
        for candidate in candidates:
            try:
                signed = sign_up(
                    conn, config, candidate.id, person, now, by=by, plan="onboarding", waitlist=False
                )
            except ShadowError as exc:
                entry.reason = str(exc)
                continue
            entry.session, entry.reason = signed.session, None
            used[candidate.programme] += 1
            break
        else:
            if entry.session is None and entry.reason is None:
                entry.reason = "no open session that day"
        days.append(entry)
    suggestions: tuple[Session, ...] = ()
    if any(d.session is None for d in days):
        suggestions = tuple(_free_sessions(conn, config, person, start, now, [p.id for p in programmes]))
    plan = Plan(person, days, suggestions)
    enqueue_post(
        conn, channel=person, render=PostRenderer.SHADOW_PLAN, args={"plan": encode_plan(plan), "by": by}
    )
    return plan


def _free_sessions(
    conn: Connection, config: AppConfig, person: str, start: date, now: datetime, programmes: list[str]
) -> list[Session]:
    """The next sessions of the onboarding programmes, from the plan's first day, with a free seat the
    person could take (not booked or waiting there, not clashing with one of their bookings)."""
    begin = max(local_at(start, time(0, 0), config.zone), now)
    found: list[Session] = []
    for session in sessions_between(conn, config, begin, now + timedelta(days=config.shadowing.horizon_days)):
        if session.programme not in programmes or session.seats_left <= 0:
            continue
        if session.status_of(person) is not None or _clash(conn, person, session) is not None:
            continue
        found.append(session)
        if len(found) == SUGGESTED:
            break
    return found


def booking_rows_due(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    """Booked people of sessions starting in [start, end): what the reminder job looks at."""
    return list(
        conn.execute(
            select(shadow_sessions.c.id, shadow_sessions.c.starts_at, shadow_bookings.c.user_id)
            .join(shadow_bookings, shadow_bookings.c.session_id == shadow_sessions.c.id)
            .where(
                and_(
                    shadow_sessions.c.status == "scheduled",
                    shadow_bookings.c.status == BOOKED,
                    shadow_sessions.c.starts_at >= start,
                    shadow_sessions.c.starts_at < end,
                )
            )
        ).all()
    )
