"""First-response SLA targets: parsing them from the configuration and working out when one is due.

Pure: no clock, no database, no Slack. The `sla` section of the configuration file reads

    sla:
      on_duty_group: S0123ABCD       # optional: the user group mentioned at twice the target
      business_hours: {start: "09:00", end: "17:00", days: [mon, tue, wed, thu, fri]}
      targets: {urgent: 1h, high: 4h, normal: 1 business day, low: 3 business days}

and uses the top-level `timezone` for business hours. A severity without a target has no SLA.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from bot.domain.intake import Severity

SlaUnit = Literal["minutes", "hours", "days", "business_hours", "business_days"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = frozenset(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
USER_GROUP_ID = re.compile(r"^S[A-Z0-9]+$")
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")

# Every spelling a person is likely to write, after lower-casing and turning "-"/"_" into spaces.
_UNITS: dict[str, SlaUnit] = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("bh", "business hour", "business hours"), "business_hours"),
    **dict.fromkeys(("bd", "business day", "business days"), "business_days"),
}
_PHRASES: dict[SlaUnit, tuple[str, str]] = {
    "minutes": ("minute", "minutes"),
    "hours": ("hour", "hours"),
    "days": ("day", "days"),
    "business_hours": ("business hour", "business hours"),
    "business_days": ("business day", "business days"),
}
_CALENDAR: dict[SlaUnit, timedelta] = {
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
}
_DURATION = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))[\s_-]*([a-z][a-z _-]*)?$")
_EXAMPLES = "like 30m, 4h, 1.5 hours, 2 days, 4 business hours or 1 business day"


@dataclass(frozen=True)
class SlaTarget:
    """How long a severity may wait for a first response. `amount` may be fractional (1.5 hours)."""

    amount: float
    unit: SlaUnit

    def __post_init__(self) -> None:
        if self.unit not in _PHRASES:
            raise ValueError(f"unknown SLA unit {self.unit!r}")
        if not self.amount > 0:
            raise ValueError(f"an SLA target must be longer than zero, not {self.amount}")

    @property
    def is_business_time(self) -> bool:
        return self.unit in ("business_hours", "business_days")

    def __str__(self) -> str:
        number = f"{self.amount:g}"
        singular, plural = _PHRASES[self.unit]
        return f"{number} {singular if self.amount == 1 else plural}"


def parse_duration(text: str) -> SlaTarget:
    """Read a target as written in the configuration: `30m`, `1.5h`, `90 minutes`, `2 days`,
    `4 business hours`, `1 business day`, `3bd`. Days without "business" are calendar days."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, {_EXAMPLES}")
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, {_EXAMPLES}")
    number, unit_text = match.groups()
    unit_text = " ".join((unit_text or "").replace("-", " ").replace("_", " ").split())
    if not unit_text:
        raise ValueError(f"{text!r} has no unit: write it {_EXAMPLES}")
    unit = _UNITS.get(unit_text)
    if unit is None:
        raise ValueError(
            f"{text!r}: unknown unit {unit_text!r} (use minutes, hours, days, business hours "
            f"or business days, {_EXAMPLES})"
        )
    amount = float(number)
    if amount <= 0:
        raise ValueError(f"{text!r}: an SLA target must be longer than zero")
    return SlaTarget(int(amount) if amount.is_integer() else amount, unit)


def _coerce_target(value: Any) -> SlaTarget:
    if isinstance(value, SlaTarget):
        return value
    if value is None:
        raise ValueError(f"give a duration, {_EXAMPLES}; leave the severity out for no SLA")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit: write it {_EXAMPLES}")
    return parse_duration(value)


# A target in the configuration: written as a string, held as an SlaTarget, dumped back as its phrase.
TargetField = Annotated[
    SlaTarget,
    PlainValidator(_coerce_target),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string"}),
]


def parse_hh_mm(value: Any) -> time:
    """A wall-clock time written "HH:MM" (config files, `/shadow add`); ValueError says how to write it."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020.
        raise ValueError(f'{value!r} is not a time: write it in quotes as "HH:MM", like "17:00"')
    match = _HH_MM.match(str(value).strip())
    if match is None:
        raise ValueError(f'{value!r} is not a time: write it as "HH:MM", like "09:00"')
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise ValueError(f"{value!r} is not a time of day (00:00 to 23:59)")
    return time(hour, minute)


class BusinessHours(BaseModel):
    """When the business-time clock runs, in the configuration's time zone. The same hours apply to
    every listed day; times are wall-clock times (09:00 is 09:00 in winter and in summer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = time(9, 0)
    end: time = time(17, 0)
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))

    _times = field_validator("start", "end", mode="before")(parse_hh_mm)

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            names = [str(day).strip().lower() for day in value]
            return [name[:3] if name in FULL_DAY_NAMES else name for name in names]
        return value

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: list[Weekday]) -> list[Weekday]:
        if not value:
            raise ValueError("needs at least one day, like [mon, tue, wed, thu, fri]")
        return sorted(set(value), key=WEEKDAYS.index)

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError(
                f"start ({self.start:%H:%M}) must be before end ({self.end:%H:%M}); "
                "business hours cannot run past midnight"
            )
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        """The business days as `date.weekday()` numbers (Monday is 0)."""
        return frozenset(WEEKDAYS.index(day) for day in self.days)

    @property
    def day_length(self) -> timedelta:
        """The business time in one business day: what "1 business day" means."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)


class SlaConfig(BaseModel):
    """The `sla` section. The default has no targets: SLAs are off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_duty_group: str | None = None
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    targets: dict[Severity, TargetField] = Field(default_factory=dict)

    @field_validator("on_duty_group", mode="before")
    @classmethod
    def _user_group(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        if not USER_GROUP_ID.match(text):
            raise ValueError(f"{text!r} is not a Slack user group ID (like S0123ABCD)")
        return text

    @field_validator("targets", mode="before")
    @classmethod
    def _severity_keys(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must map severities to durations, like {urgent: 1h, high: 4h}")
        known = [severity.value for severity in Severity]
        targets: dict[str, Any] = {}
        for key, target in value.items():
            name = str(key).strip().lower()
            if name not in known:
                raise ValueError(f"unknown severity {key!r} (use {', '.join(known)})")
            targets[name] = target
        return targets

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    def target_for(self, severity: Severity | str) -> SlaTarget | None:
        """The target for a severity, or None when that severity has no SLA."""
        return self.targets.get(Severity(severity))


def due_at(
    received: datetime,
    target: SlaTarget,
    tz: ZoneInfo,
    hours: BusinessHours,
    multiple: int = 1,
) -> datetime:
    """The moment (aware, UTC) at which `multiple` times `target` has elapsed since `received`.

    Calendar units (minutes, hours, days) are elapsed real time, nights and weekends included;
    a day is 24 hours, so across a DST change "1 day" ends an hour earlier or later on the wall clock.

    Business units count only time inside `hours` on business days, read on the wall clock in `tz`.
    Time received outside business hours starts the clock at the next opening (Saturday → Monday
    09:00; Friday 18:00 → Monday 09:00). N business days are N times the length of the business day of
    business time (8 hours for 09:00-17:00), so "1 business day" from Tuesday 11:00 is Wednesday
    11:00 and from Friday 18:00 is Monday 17:00. A target used up exactly at closing time is due
    at closing (Friday 16:00 + 1 business hour is Friday 17:00, not Monday 09:00).

    Business time is wall-clock time: 09:00-17:00 is always 8 hours, even on a DST day (transitions
    happen at night, so this only matters for business hours that span one). A wall time that does
    not exist is read with the offset in force before the change (02:30 in a spring-forward gap is
    03:30 summer time); an ambiguous one (in a fall-back hour) is its first occurrence.

    Cost is a few steps per call whatever the target: whole weeks are skipped arithmetically.
    """
    if received.tzinfo is None or received.utcoffset() is None:
        raise ValueError("received must be an aware datetime")
    if multiple < 1:
        raise ValueError(f"multiple must be at least 1, not {multiple}")
    if not target.is_business_time:
        return received.astimezone(UTC) + _CALENDAR[target.unit] * (target.amount * multiple)

    per_unit = timedelta(hours=1) if target.unit == "business_hours" else hours.day_length
    remaining = per_unit * (target.amount * multiple)
    # timedelta * float rounds to the microsecond; a positive target is never allowed to round away.
    remaining = max(remaining, timedelta.resolution)
    return _add_business_time(received.astimezone(tz).replace(tzinfo=None), remaining, tz, hours)


def _add_business_time(start: datetime, remaining: timedelta, tz: ZoneInfo, hours: BusinessHours) -> datetime:
    """Walk forward from the naive local `start`, day by day, spending `remaining` business time."""
    weekdays = hours.weekdays
    per_week = hours.day_length * len(weekdays)
    cursor = start
    day = start.date()
    first_day = True
    while True:
        if not first_day and remaining > per_week:
            # Any 7 days from a midnight hold each weekday once: skip whole weeks, but leave the last
            # (partial or exactly full) week to the loop so an exact fit ends at a closing time.
            weeks = (remaining - timedelta.resolution) // per_week
            day += timedelta(weeks=weeks)
            remaining -= per_week * weeks
        if day.weekday() in weekdays:
            opening = datetime.combine(day, hours.start)
            closing = datetime.combine(day, hours.end)
            begin = max(opening, cursor)
            if begin < closing:
                available = closing - begin
                if remaining <= available:
                    return (begin + remaining).replace(tzinfo=tz, fold=0).astimezone(UTC)
                remaining -= available
        first_day = False
        day += timedelta(days=1)
        cursor = datetime.combine(day, time.min)
