"""Reading the digest's counts from the daily roll-ups (`digest_daily`, kept by triggers: migration 0013).

A time range [lo, hi) is cut into the whole UTC days inside it, read from the roll-ups, and the partial
days at its two edges, read from `issues` as before (the digest's windows end at a local hour, so each
range has up to two partial days: at most two days of reports instead of the whole window). The sum is
exactly the raw count: the roll-ups count the same rows by the same conditions, and the edges are the
raw query itself. `bot.services.digest` builds its sections from `parts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select, union_all

from db.models import digest_daily

DAY = timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def split_days(
    lo: datetime | None, hi: datetime
) -> tuple[list[tuple[datetime | None, datetime]], tuple[date | None, date] | None]:
    """[lo, hi) (lo None: from the beginning) as its partial days at the edges, to read raw, and the
    whole UTC days [first, last) inside it (None when there is no whole day)."""
    last = hi.astimezone(UTC).date()
    if lo is None:
        tail = _midnight(last)
        return ([(tail, hi)] if tail < hi else []), (None, last)
    start = lo.astimezone(UTC)
    first = start.date() if start == _midnight(start.date()) else start.date() + DAY
    if first >= last:
        return [(lo, hi)], None
    edges: list[tuple[datetime | None, datetime]] = [(lo, _midnight(first)), (_midnight(last), hi)]
    return [(a, b) for a, b in edges if a is not None and a < b], (first, last)


@dataclass(frozen=True)
class Measure:
    """One thing the digest counts, both ways: the roll-up rows and the raw rows they stand for."""

    measures: tuple[str, ...]  # digest_daily.measure values
    rolled_name: Any  # the name, from digest_daily's columns
    raw_name: Any  # the same name, from the raw rows (None: one count, named '')
    raw_from: Any  # the raw rows: a table or a join
    raw_time: Any  # the moment that puts a raw row on a day
    raw_where: tuple[Any, ...] = ()


def parts(measure: Measure, buckets: Sequence[tuple[int, datetime | None, datetime]]) -> Any:
    """A subquery of (name, bucket, n): for each bucket (number, lo, hi) the counts per name of the
    rows whose moment is in [lo, hi), as roll-up rows for the whole days and raw rows for the edges.
    A name may come back several times per bucket (and with n = 0): sum and filter outside."""
    selects = []
    for number, lo, hi in buckets:
        edges, days = split_days(lo, hi)
        tag: Any = literal_column(str(int(number)))
        for a, b in edges:
            where = [measure.raw_time < b, *measure.raw_where]
            if a is not None:
                where.append(measure.raw_time >= a)
            name = measure.raw_name if measure.raw_name is not None else literal_column("''")
            raw = (
                select(name.label("name"), tag.label("bucket"), func.count().label("n"))
                .select_from(measure.raw_from)
                .where(*where)
            )
            selects.append(raw.group_by(measure.raw_name) if measure.raw_name is not None else raw)
        if days is not None:
            first, last = days
            where = [digest_daily.c.measure.in_(measure.measures), digest_daily.c.day < last]
            if first is not None:
                where.append(digest_daily.c.day >= first)
            selects.append(
                select(
                    measure.rolled_name.label("name"),
                    tag.label("bucket"),
                    func.sum(digest_daily.c.n).label("n"),
                )
                .where(*where)
                .group_by(measure.rolled_name)
            )
    if not selects:  # an empty range
        return (
            select(
                literal_column("''").label("name"),
                literal_column("0").label("bucket"),
                literal_column("0").label("n"),
            )
            .where(literal_column("1") == 0)
            .subquery("parts")
        )
    return union_all(*selects).subquery("parts")
