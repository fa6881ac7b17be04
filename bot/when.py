"""Wall-clock times for schedules: "Mondays at 09:00", "an hour before", in the configured time zone.

Pure: no clock of its own (every function takes `now`), no database. Times are wall-clock times in the
zone: a session "Tuesdays 10:00" is at 10:00 in winter and in summer. A wall time that does not exist
(in a spring-forward gap) is read with the offset in force before the change, so 02:30 becomes 03:30
summer time; an ambiguous one (in the fall-back hour) is its first occurrence.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from bot.sla import FULL_DAY_NAMES, WEEKDAYS, Weekday, parse_duration, parse_hh_mm

__all__ = [
    "Duration",
    "WeeklyAt",
    "format_duration",
    "local_at",
    "local_time",
    "parse_calendar_duration",
    "parse_weekday",
]

_WEEKLY = re.compile(r"^\s*([a-z]+)s?\s+(?:at\s+)?(\d{1,2}:\d{2})\s*$", re.IGNORECASE)


def local_at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `zone` (gaps read forward, overlaps first)."""
    local = datetime.combine(day, at).replace(tzinfo=zone, fold=0)
    # Round-tripping through UTC normalises a wall time in a spring-forward gap to the real instant.
    return local.astimezone(UTC)


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """A moment as plain text in the configured zone, the same everywhere: "Tue 8 Dec 10:00". For text
    Slack shows as typed (notification fallbacks, option text, refusals) and as the fallback of
    `bot.views.blocks.slack_time`, which every reader otherwise sees in their own zone."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def parse_weekday(value: Any) -> Weekday:
    name = str(value).strip().lower()
    if name in FULL_DAY_NAMES:
        name = name[:3]
    if name.endswith("s") and name[:-1] in FULL_DAY_NAMES:  # "mondays"
        name = name[:3]
    if name not in WEEKDAYS:
        raise ValueError(f"{value!r} is not a weekday (use mon, tue, wed, thu, fri, sat or sun)")
    return name


def parse_calendar_duration(value: Any) -> timedelta:
    """`30m`, `24h`, `2 days` as real time. Business time has no meaning for these settings."""
    if isinstance(value, timedelta):
        return value
    target = parse_duration(str(value))
    if target.is_business_time:
        raise ValueError(f"{value!r}: use minutes, hours or days here, not business time")
    unit = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}
    return target.amount * unit[target.unit]


def format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if minutes > 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min"


def _short(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


# A duration in the configuration: written "24h", held as a timedelta, dumped back as "24h".
Duration = Annotated[
    timedelta,
    PlainValidator(parse_calendar_duration),
    PlainSerializer(_short, return_type=str),
    WithJsonSchema({"type": "string"}),
]


def before(moment: datetime, lead: timedelta, zone: ZoneInfo) -> datetime:
    """`lead` before `moment`. Whole days go back on the calendar, keeping the wall time: the day-before
    reminder of a Monday 10:00 session comes on Sunday at 10:00 even when the clocks changed in
    between (which is 23 or 25 hours, not 24). Shorter leads are real time."""
    if lead % timedelta(days=1) == timedelta(0) and lead > timedelta(0):
        local = moment.astimezone(zone)
        day = local.date() - timedelta(days=lead // timedelta(days=1))
        return local_at(day, local.time().replace(tzinfo=None), zone)
    return moment - lead


def after(moment: datetime, delay: timedelta, zone: ZoneInfo) -> datetime:
    """`delay` after `moment`, whole days on the calendar (see `before`)."""
    if delay % timedelta(days=1) == timedelta(0) and delay > timedelta(0):
        local = moment.astimezone(zone)
        day = local.date() + timedelta(days=delay // timedelta(days=1))
        return local_at(day, local.time().replace(tzinfo=None), zone)
    return moment + delay


class WeeklyAt(BaseModel):
    """A weekly wall-clock time: `{weekday: mon, time: "09:00"}` or the string `"mon 09:00"`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekday: Weekday
    time: time

    @model_validator(mode="before")
    @classmethod
    def _read(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _WEEKLY.match(value)
            if match is None:
                raise ValueError(f'{value!r}: write a weekday and a time, like "mon 09:00"')
            return {"weekday": parse_weekday(match[1]), "time": parse_hh_mm(match[2])}
        if isinstance(value, dict):
            data = dict(value)
            if "weekday" in data:
                data["weekday"] = parse_weekday(data["weekday"])
            if "time" in data:
                data["time"] = parse_hh_mm(data["time"])
            return data
        return value

    def __str__(self) -> str:
        return f"{self.weekday} {self.time:%H:%M}"

    def latest(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The most recent occurrence at or before `now` (UTC)."""
        today = local_date(now, zone)
        back = (today.weekday() - WEEKDAYS.index(self.weekday)) % 7
        moment = local_at(today - timedelta(days=back), self.time, zone)
        if moment > now:
            moment = local_at(today - timedelta(days=back + 7), self.time, zone)
        return moment

    def occurrences(self, start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
        """Every occurrence in [start, end) (UTC)."""
        found: list[datetime] = []
        day = local_date(start, zone) - timedelta(days=1)
        last = local_date(end, zone) + timedelta(days=1)
        target = WEEKDAYS.index(self.weekday)
        day += timedelta(days=(target - day.weekday()) % 7)
        while day <= last:
            moment = local_at(day, self.time, zone)
            if start <= moment < end:
                found.append(moment)
            day += timedelta(days=7)
        return found
