"""Shadowing sessions, sign-ups and plans as services return them and views render them.

A direct message about a session is rendered when it is sent, from the session as it was when the
message was asked for: `encode_session` / `decode_session` carry that snapshot in the outbox payload
(and `encode_plan` / `decode_plan` a first-week plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.when import local_time

BOOKED, WAITLISTED, CANCELLED = "booked", "waitlisted", "cancelled"
LIVE = (BOOKED, WAITLISTED)


@dataclass(frozen=True)
class Session:
    id: int
    programme: str
    name: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    location: str | None
    hosts: tuple[str, ...]
    status: str
    booked: tuple[str, ...] = ()
    waitlisted: tuple[str, ...] = ()
    offered: tuple[tuple[int, str], ...] = ()  # (booking id, owner) of seats on offer
    waitlist_allowed: bool = True

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - len(self.booked))

    @property
    def hours(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 3600

    def status_of(self, user: str) -> str | None:
        if user in self.booked:
            return BOOKED
        if user in self.waitlisted:
            return WAITLISTED
        return None


@dataclass(frozen=True)
class SignUp:
    session: Session
    status: str  # booked | waitlisted
    position: int = 0  # on the waitlist, 1-based


@dataclass(frozen=True)
class Cancelled:
    session: Session
    was: str
    promoted: str | None = None


@dataclass
class PlanDay:
    day: date
    session: Session | None = None
    reason: str | None = None
    existing: bool = False  # the person had booked this session before the plan was made


@dataclass(frozen=True)
class Plan:
    person: str
    days: list[PlanDay] = field(default_factory=list)
    # The next free sessions, offered to book when some days of the plan have none.
    suggestions: tuple[Session, ...] = ()

    @property
    def booked(self) -> list[Session]:
        return [d.session for d in self.days if d.session is not None]

    @property
    def empty_days(self) -> list[date]:
        return [d.day for d in self.days if d.session is None]

    @property
    def existing(self) -> int:
        return sum(1 for d in self.days if d.existing)


@dataclass(frozen=True)
class DmState:
    """What an earlier direct message about a session shows when the state changed after it."""

    session: Session
    user: str
    status: str | None  # booked | waitlisted | None (no longer signed up)
    feedback_given: bool
    now: datetime

    @property
    def offered(self) -> bool:
        return any(owner == self.user for _, owner in self.session.offered)


@dataclass(frozen=True)
class Hours:
    done: float  # sessions already held this quarter
    booked: float  # sessions still ahead this quarter

    @property
    def total(self) -> float:
        return self.done + self.booked


def when(moment: datetime, zone: ZoneInfo) -> str:
    """Plain text, in the configured zone: "Tue 8 Dec 10:00" (mrkdwn shows `slack_time` instead)."""
    return local_time(moment, zone)


def session_title(session: Session, zone: ZoneInfo) -> str:
    return f"{session.name}, {when(session.starts_at, zone)}"


def encode_session(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "programme": session.programme,
        "name": session.name,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "capacity": session.capacity,
        "location": session.location,
        "hosts": list(session.hosts),
        "status": session.status,
        "booked": list(session.booked),
        "waitlisted": list(session.waitlisted),
        "offered": [[booking, owner] for booking, owner in session.offered],
        "waitlist_allowed": session.waitlist_allowed,
    }


def decode_session(data: Mapping[str, Any]) -> Session:
    return Session(
        id=int(data["id"]),
        programme=str(data["programme"]),
        name=str(data["name"]),
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]),
        capacity=int(data["capacity"]),
        location=data["location"],
        hosts=tuple(data["hosts"]),
        status=str(data["status"]),
        booked=tuple(data["booked"]),
        waitlisted=tuple(data["waitlisted"]),
        offered=tuple((int(booking), str(owner)) for booking, owner in data["offered"]),
        waitlist_allowed=bool(data["waitlist_allowed"]),
    )


def encode_plan(plan: Plan) -> dict[str, Any]:
    return {
        "person": plan.person,
        "days": [
            {
                "day": d.day.isoformat(),
                "session": encode_session(d.session) if d.session is not None else None,
                "reason": d.reason,
                "existing": d.existing,
            }
            for d in plan.days
        ],
        "suggestions": [encode_session(s) for s in plan.suggestions],
    }


def decode_plan(data: Mapping[str, Any]) -> Plan:
    return Plan(
        person=str(data["person"]),
        days=[
            PlanDay(
                date.fromisoformat(d["day"]),
                decode_session(d["session"]) if d["session"] is not None else None,
                d["reason"],
                bool(d.get("existing", False)),  # absent from plans stored by earlier versions
            )
            for d in data["days"]
        ],
        suggestions=tuple(decode_session(s) for s in data.get("suggestions") or ()),
    )
