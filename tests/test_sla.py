"""SLA targets: parsing, the `sla` configuration section, and when a first response is due."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.domain.intake import Severity
from bot.sla import BusinessHours, SlaConfig, SlaTarget, due_at, parse_duration

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
OFFICE = BusinessHours()  # 09:00-17:00, Monday to Friday
EVERY_DAY = BusinessHours(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- parse_duration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit", "phrase"),
    [
        ("30m", 30, "minutes", "30 minutes"),
        ("90 minutes", 90, "minutes", "90 minutes"),
        ("1 min", 1, "minutes", "1 minute"),
        ("1h", 1, "hours", "1 hour"),
        ("1.5h", 1.5, "hours", "1.5 hours"),
        ("2 hours", 2, "hours", "2 hours"),
        ("1d", 1, "days", "1 day"),
        ("1 day", 1, "days", "1 day"),
        ("2 days", 2, "days", "2 days"),
        ("4 business hours", 4, "business_hours", "4 business hours"),
        ("1 business hour", 1, "business_hours", "1 business hour"),
        ("1 business day", 1, "business_days", "1 business day"),
        ("3 business days", 3, "business_days", "3 business days"),
        ("1bd", 1, "business_days", "1 business day"),
        ("  2 BD ", 2, "business_days", "2 business days"),
        ("1-business-day", 1, "business_days", "1 business day"),
        ("0.5 business days", 0.5, "business_days", "0.5 business days"),
    ],
)
def test_parse_duration_reads_common_spellings(text: str, amount: float, unit: str, phrase: str) -> None:
    target = parse_duration(text)
    assert (target.amount, target.unit) == (amount, unit)
    assert str(target) == phrase
    # The phrase is what the configuration dumps back; it must read in again as the same target.
    assert parse_duration(str(target)) == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a duration: write a number and a unit, like 30m, 4h"),
        ("soon", "'soon' is not a duration"),
        ("1h30m", "'1h30m' is not a duration"),
        ("1.5", "'1.5' has no unit: write it like 30m, 4h"),
        ("3 weeks", "'3 weeks': unknown unit 'weeks' (use minutes, hours, days, business hours or business"),
        ("30s", "'30s': unknown unit 's'"),
        ("0h", "'0h': an SLA target must be longer than zero"),
        ("0 business days", "'0 business days': an SLA target must be longer than zero"),
        ("-1h", "'-1h': an SLA target must be longer than zero"),
    ],
)
def test_parse_duration_explains_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value).startswith(message)


def test_sla_target_refuses_a_non_positive_amount_when_built_directly() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        SlaTarget(0, "hours")


# --- configuration -----------------------------------------------------------------------------


def _first_problem(data: dict[str, Any]) -> str:
    """The first error as `key.path: message`, the shape bot.config reports."""
    with pytest.raises(ValidationError) as caught:
        SlaConfig.model_validate(data)
    error = caught.value.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    return f"{key}: {error['msg'].removeprefix('Value error, ')}"


def test_full_sla_section_loads() -> None:
    config = SlaConfig.model_validate(
        {
            "on_duty_group": "S0123ABCD",
            "business_hours": {"start": "08:30", "end": "16:00", "days": ["Mon", "tuesday", "wed"]},
            "targets": {"urgent": "1h", "High": "4h", "normal": "1 business day"},
        }
    )
    assert config.on_duty_group == "S0123ABCD"
    assert config.business_hours.start == time(8, 30)
    assert config.business_hours.end == time(16, 0)
    assert config.business_hours.days == ["mon", "tue", "wed"]
    assert config.business_hours.day_length == timedelta(hours=7, minutes=30)
    assert config.target_for(Severity.URGENT) == SlaTarget(1, "hours")
    assert config.target_for("high") == SlaTarget(4, "hours")
    assert config.target_for("normal") == SlaTarget(1, "business_days")
    assert config.target_for(Severity.LOW) is None  # omitted: no SLA for low
    assert config.enabled
    assert config.model_dump(mode="json")["targets"] == {
        "urgent": "1 hour",
        "high": "4 hours",
        "normal": "1 business day",
    }


def test_default_sla_section_has_no_targets() -> None:
    config = SlaConfig()
    assert not config.enabled
    assert config.targets == {}
    assert config.on_duty_group is None
    assert config.business_hours == BusinessHours(
        start=time(9, 0), end=time(17, 0), days=["mon", "tue", "wed", "thu", "fri"]
    )
    assert all(config.target_for(severity) is None for severity in Severity)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        (
            {"on_duty_group": "@support-oncall"},
            "on_duty_group: '@support-oncall' is not a Slack user group ID",
        ),
        ({"on_duty_group": "C0123ABCD"}, "on_duty_group: 'C0123ABCD' is not a Slack user group ID"),
        (
            {"targets": {"critical": "1h"}},
            "targets: unknown severity 'critical' (use low, normal, high, urgent)",
        ),
        ({"targets": ["urgent"]}, "targets: must map severities to durations"),
        ({"targets": {"urgent": "1 fortnight"}}, "targets.urgent: '1 fortnight': unknown unit 'fortnight'"),
        ({"targets": {"high": "0h"}}, "targets.high: '0h': an SLA target must be longer than zero"),
        ({"targets": {"low": 3}}, "targets.low: 3 has no unit"),
        ({"targets": {"low": None}}, "targets.low: give a duration"),
        ({"business_hours": {"start": "9am"}}, "business_hours.start: '9am' is not a time"),
        ({"business_hours": {"end": "24:00"}}, "business_hours.end: '24:00' is not a time of day"),
        # An unquoted 17:00 reaches us from YAML 1.1 as the base-60 number 1020.
        ({"business_hours": {"end": 1020}}, "business_hours.end: 1020 is not a time: write it in quotes"),
        (
            {"business_hours": {"start": "17:00", "end": "09:00"}},
            "business_hours: start (17:00) must be before end (09:00)",
        ),
        (
            {"business_hours": {"start": "09:00", "end": "09:00"}},
            "business_hours: start (09:00) must be before",
        ),
        ({"business_hours": {"days": []}}, "business_hours.days: needs at least one day"),
        ({"business_hours": {"days": ["mon", "funday"]}}, "business_hours.days.1: Input should be 'mon'"),
        ({"business_hours": {"hours": 8}}, "business_hours.hours: Extra inputs are not permitted"),
    ],
)
def test_invalid_sla_section_names_the_key(data: dict[str, Any], problem: str) -> None:
    assert _first_problem(data).startswith(problem)


# --- due_at: calendar time ---------------------------------------------------------------------


def test_calendar_hours_run_through_nights_and_weekends() -> None:
    # Friday 2024-06-07 16:30 in Berlin (14:30 UTC).
    assert due_at(utc(2024, 6, 7, 14, 30), parse_duration("4h"), BERLIN, OFFICE) == utc(2024, 6, 7, 18, 30)
    assert due_at(utc(2024, 6, 7, 14, 30), parse_duration("90 minutes"), BERLIN, OFFICE) == utc(
        2024, 6, 7, 16
    )
    # Across UTC midnight.
    assert due_at(utc(2024, 6, 4, 23, 30), parse_duration("1h"), BERLIN, OFFICE) == utc(2024, 6, 5, 0, 30)
    assert due_at(utc(2024, 6, 7, 14, 30), parse_duration("2 days"), BERLIN, OFFICE) == utc(
        2024, 6, 9, 14, 30
    )


def test_calendar_day_is_24_hours_across_dst() -> None:
    # Saturday 2024-03-30 12:00 CET; the clocks go forward that night, so 24 hours later reads 13:00 CEST.
    due = due_at(utc(2024, 3, 30, 11), parse_duration("1 day"), BERLIN, OFFICE)
    assert due == utc(2024, 3, 31, 11)
    assert due.astimezone(BERLIN).hour == 13
    # Saturday 2024-10-26 12:00 CEST; the clocks go back that night: 24 hours later reads 11:00 CET.
    due = due_at(utc(2024, 10, 26, 10), parse_duration("1 day"), BERLIN, OFFICE)
    assert due == utc(2024, 10, 27, 10)
    assert due.astimezone(BERLIN).hour == 11


def test_calendar_hour_in_the_repeated_hour_is_one_real_hour() -> None:
    # 2024-11-03 01:30 EDT (05:30 UTC); an hour later the New York clock reads 01:30 again, now EST.
    due = due_at(utc(2024, 11, 3, 5, 30), parse_duration("1h"), NEW_YORK, OFFICE)
    assert due == utc(2024, 11, 3, 6, 30)
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EST"


# --- due_at: business hours --------------------------------------------------------------------
# June 2024 in Berlin is CEST (UTC+2): Monday 3rd, Friday 7th, Saturday 8th, Monday 10th.


@pytest.mark.parametrize(
    ("received", "target", "due", "why"),
    [
        (utc(2024, 6, 4, 8), "4 business hours", utc(2024, 6, 4, 12), "Tue 10:00 → Tue 14:00"),
        (utc(2024, 6, 4, 14), "2 business hours", utc(2024, 6, 5, 8), "Tue 16:00 → Wed 10:00, over midnight"),
        (utc(2024, 6, 7, 14, 30), "1 business hour", utc(2024, 6, 10, 7, 30), "Fri 16:30 → Mon 09:30"),
        (utc(2024, 6, 8, 10), "1 business hour", utc(2024, 6, 10, 8), "Sat 12:00 → clock starts Mon 09:00"),
        (utc(2024, 6, 9, 21, 59), "1 business hour", utc(2024, 6, 10, 8), "Sun 23:59 → Mon 10:00"),
        (utc(2024, 6, 3, 5), "1 business hour", utc(2024, 6, 3, 8), "Mon 07:00, before opening → Mon 10:00"),
        (utc(2024, 6, 7, 14), "1 business hour", utc(2024, 6, 7, 15), "Fri 16:00 → Fri 17:00, at closing"),
        (utc(2024, 6, 7, 15), "1 business hour", utc(2024, 6, 10, 8), "Fri 17:00, at closing → Mon 10:00"),
        (utc(2024, 6, 3, 14), "1.5 business hours", utc(2024, 6, 4, 7, 30), "Mon 16:00 → Tue 09:30"),
        (utc(2024, 6, 3, 7), "40 business hours", utc(2024, 6, 7, 15), "Mon 09:00 → Fri 17:00, a full week"),
    ],
)
def test_business_hours(received: datetime, target: str, due: datetime, why: str) -> None:
    assert due_at(received, parse_duration(target), BERLIN, OFFICE) == due, why


@pytest.mark.parametrize(
    ("received", "target", "due", "why"),
    [
        (utc(2024, 6, 4, 9), "1 business day", utc(2024, 6, 5, 9), "Tue 11:00 → Wed 11:00"),
        (utc(2024, 6, 7, 16), "1 business day", utc(2024, 6, 10, 15), "Fri 18:00 → Mon 17:00"),
        (utc(2024, 6, 8, 10), "1 business day", utc(2024, 6, 10, 15), "Sat 12:00 → Mon 17:00"),
        (utc(2024, 6, 7, 7), "1 business day", utc(2024, 6, 7, 15), "Fri 09:00 → Fri 17:00"),
        (utc(2024, 6, 5, 12), "3 business days", utc(2024, 6, 10, 12), "Wed 14:00 → Mon 14:00"),
        (utc(2024, 6, 3, 13), "0.5 business days", utc(2024, 6, 4, 9), "Mon 15:00 + 4h → Tue 11:00"),
        (utc(2024, 6, 3, 7), "5 business days", utc(2024, 6, 7, 15), "Mon 09:00 → Fri 17:00, not Mon 09:00"),
        (utc(2024, 6, 3, 7), "10 business days", utc(2024, 6, 14, 15), "Mon 09:00 → Fri 17:00 a week on"),
        (utc(2024, 6, 3, 8), "10 business days", utc(2024, 6, 17, 8), "Mon 10:00 → Mon 10:00 two weeks on"),
        (utc(2024, 6, 8, 10), "10 business days", utc(2024, 6, 21, 15), "Sat → Fri 17:00, two whole weeks"),
        (
            utc(2024, 6, 8, 10),
            "21 business days",
            utc(2024, 7, 8, 15),
            "Sat → Mon 17:00 four weeks + a day on",
        ),
    ],
)
def test_business_days(received: datetime, target: str, due: datetime, why: str) -> None:
    assert due_at(received, parse_duration(target), BERLIN, OFFICE) == due, why


def test_business_day_is_the_configured_day_length() -> None:
    # Sunday to Thursday, 08:30-12:30: a business day is four hours.
    hours = BusinessHours(start=time(8, 30), end=time(12, 30), days=["sun", "mon", "tue", "wed", "thu"])
    # Thursday 2024-06-06 11:30 CEST → one hour on Thursday, three on Sunday: Sunday 11:30.
    assert due_at(utc(2024, 6, 6, 9, 30), parse_duration("1bd"), BERLIN, hours) == utc(2024, 6, 9, 9, 30)


# --- due_at: DST weeks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "target", "tz", "hours", "due", "why"),
    [
        # Europe/Berlin springs forward on Sunday 2024-03-31 (CET +1 → CEST +2).
        (
            utc(2024, 3, 29, 15, 30),
            "1 business hour",
            BERLIN,
            OFFICE,
            utc(2024, 4, 1, 7, 30),
            "Fri 16:30 CET → Mon 09:30 CEST",
        ),
        (
            utc(2024, 3, 29, 10),
            "1 business day",
            BERLIN,
            OFFICE,
            utc(2024, 4, 1, 9),
            "Fri 11:00 CET → Mon 11:00 CEST",
        ),
        (
            utc(2024, 3, 30, 15),
            "2 business hours",
            BERLIN,
            EVERY_DAY,
            utc(2024, 3, 31, 8),
            "Sat 16:00 CET → Sun 10:00 CEST",
        ),
        # Europe/Berlin falls back on Sunday 2024-10-27 (CEST +2 → CET +1).
        (
            utc(2024, 10, 25, 14, 30),
            "1 business hour",
            BERLIN,
            OFFICE,
            utc(2024, 10, 28, 8, 30),
            "Fri 16:30 CEST → Mon 09:30 CET",
        ),
        (
            utc(2024, 10, 25, 9),
            "1 business day",
            BERLIN,
            OFFICE,
            utc(2024, 10, 28, 10),
            "Fri 11:00 CEST → Mon 11:00 CET",
        ),
        (
            utc(2024, 10, 26, 14),
            "2 business hours",
            BERLIN,
            EVERY_DAY,
            utc(2024, 10, 27, 9),
            "Sat 16:00 CEST → Sun 10:00 CET",
        ),
        # America/New_York springs forward on Sunday 2024-03-10 (EST -5 → EDT -4).
        (
            utc(2024, 3, 8, 21),
            "2 business hours",
            NEW_YORK,
            OFFICE,
            utc(2024, 3, 11, 14),
            "Fri 16:00 EST → Mon 10:00 EDT",
        ),
        (
            utc(2024, 3, 8, 17),
            "1 business day",
            NEW_YORK,
            OFFICE,
            utc(2024, 3, 11, 16),
            "Fri 12:00 EST → Mon 12:00 EDT",
        ),
        (
            utc(2024, 3, 9, 21),
            "2 business hours",
            NEW_YORK,
            EVERY_DAY,
            utc(2024, 3, 10, 14),
            "Sat 16:00 EST → Sun 10:00 EDT",
        ),
        # America/New_York falls back on Sunday 2024-11-03 (EDT -4 → EST -5).
        (
            utc(2024, 11, 1, 16),
            "1 business day",
            NEW_YORK,
            OFFICE,
            utc(2024, 11, 4, 17),
            "Fri 12:00 EDT → Mon 12:00 EST",
        ),
        (
            utc(2024, 11, 1, 20, 30),
            "1 business hour",
            NEW_YORK,
            OFFICE,
            utc(2024, 11, 4, 14, 30),
            "Fri 16:30 EDT → Mon 09:30 EST",
        ),
    ],
)
def test_business_time_across_dst(
    received: datetime, target: str, tz: ZoneInfo, hours: BusinessHours, due: datetime, why: str
) -> None:
    assert due_at(received, parse_duration(target), tz, hours) == due, why


def test_business_hours_that_contain_the_spring_forward_gap() -> None:
    night_shift = BusinessHours(start=time(1, 0), end=time(5, 0), days=["sun"])
    # Sunday 2024-03-31 01:30 CET: one business hour on lands at 02:30, which Berlin skips; that
    # wall time is read with the winter offset, i.e. 03:30 CEST - one real hour after receipt.
    due = due_at(utc(2024, 3, 31, 0, 30), parse_duration("1 business hour"), BERLIN, night_shift)
    assert due == utc(2024, 3, 31, 1, 30)
    assert due.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


# --- due_at: multiples, far-east zones, inputs -------------------------------------------------


def test_multiple_gives_the_escalation_point() -> None:
    # Tuesday 2024-06-04 16:30 CEST: 1 business hour is due Wed 09:30, twice that Wed 10:30.
    target = parse_duration("1 business hour")
    assert due_at(utc(2024, 6, 4, 14, 30), target, BERLIN, OFFICE) == utc(2024, 6, 5, 7, 30)
    assert due_at(utc(2024, 6, 4, 14, 30), target, BERLIN, OFFICE, multiple=2) == utc(2024, 6, 5, 8, 30)
    # Tuesday 11:00 CEST: twice one business day is Thursday 11:00.
    assert due_at(utc(2024, 6, 4, 9), parse_duration("1bd"), BERLIN, OFFICE, multiple=2) == utc(2024, 6, 6, 9)
    assert due_at(utc(2024, 6, 4, 9), parse_duration("4h"), BERLIN, OFFICE, multiple=2) == utc(2024, 6, 4, 17)


@pytest.mark.parametrize(
    ("received", "target", "due", "why"),
    [
        # Thursday 23:00 UTC is already Friday 08:00 in Tokyo: a business day, opening at 09:00.
        (utc(2024, 6, 6, 23), "1 business hour", utc(2024, 6, 7, 1), "Fri 08:00 JST → Fri 10:00 JST"),
        # Friday 22:00 UTC is Saturday 07:00 in Tokyo: the clock waits for Monday.
        (utc(2024, 6, 7, 22), "1 business hour", utc(2024, 6, 10, 1), "Sat 07:00 JST → Mon 10:00 JST"),
        # Sunday 23:30 UTC is Monday 08:30 in Tokyo: due the same Tokyo morning.
        (utc(2024, 6, 9, 23, 30), "1 business hour", utc(2024, 6, 10, 1), "Mon 08:30 JST → Mon 10:00 JST"),
        (utc(2024, 6, 7, 7), "1 business day", utc(2024, 6, 10, 7), "Fri 16:00 JST → Mon 16:00 JST"),
    ],
)
def test_business_time_in_a_far_east_zone(received: datetime, target: str, due: datetime, why: str) -> None:
    assert due_at(received, parse_duration(target), TOKYO, OFFICE) == due, why


def test_due_at_accepts_any_aware_time_and_answers_in_utc() -> None:
    received = datetime(2024, 6, 7, 16, 30, tzinfo=BERLIN)
    due = due_at(received, parse_duration("1 business hour"), BERLIN, OFFICE)
    assert due == utc(2024, 6, 10, 7, 30)
    assert due.tzinfo is UTC
    assert due_at(received, parse_duration("1h"), BERLIN, OFFICE).tzinfo is UTC


def test_due_at_refuses_naive_times_and_bad_multiples() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_at(datetime(2024, 6, 7, 14, 30), parse_duration("1h"), BERLIN, OFFICE)
    with pytest.raises(ValueError, match="multiple must be at least 1"):
        due_at(utc(2024, 6, 7, 14, 30), parse_duration("1h"), BERLIN, OFFICE, multiple=0)


# --- due_at against a minute-by-minute count ----------------------------------------------------


def _due_by_counting_minutes(
    received: datetime, minutes: int, tz: ZoneInfo, hours: BusinessHours
) -> datetime:
    """The obvious, slow definition: step through local wall-clock minutes, counting business ones."""
    wall = received.astimezone(tz).replace(tzinfo=None)
    counted = 0
    while counted < minutes:
        if wall.weekday() in hours.weekdays and hours.start <= wall.time() < hours.end:
            counted += 1
        wall += timedelta(minutes=1)
    return wall.replace(tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, TOKYO], ids=str)
def test_due_at_matches_counting_minutes(tz: ZoneInfo) -> None:
    rng = random.Random(20240331)
    hours = BusinessHours(start=time(8, 30), end=time(18, 0), days=["mon", "tue", "thu", "fri", "sat"])
    for _ in range(12):
        received = utc(2024, 1, 1) + timedelta(minutes=rng.randrange(366 * 24 * 60))
        if rng.random() < 0.5:
            target = SlaTarget(rng.randint(1, 60), "business_hours")
            minutes = int(target.amount) * 60
        else:
            target = SlaTarget(rng.randint(1, 12), "business_days")
            minutes = int(target.amount) * 570
        expected = _due_by_counting_minutes(received, minutes, tz, hours)
        assert due_at(received, target, tz, hours) == expected, (received, target)
