"""Reading the digest's counts from the daily roll-ups (`digest_daily`, kept by triggers: migration 0014),
and folding PostgreSQL's pending changes into them.

A time range [lo, hi) is cut into the whole UTC days inside it, read from the roll-ups, and the partial
days at its two edges, read from `issues` as before (the digest's windows end at a local hour, so each
range has up to two partial days: at most two days of reports instead of the whole window). The sum is
exactly the raw count: the roll-ups count the same rows by the same conditions, and the edges are the
raw query itself. `bot.services.digest` builds its sections from `parts`.

On PostgreSQL the triggers do not touch `digest_daily` (a per-day counter row would make every
concurrent intake of the day wait for the one before it to commit): they append their changes to
`digest_daily_delta`, which has no key. `fold` moves them into `digest_daily` in one statement (every
minute, `schedules/digest_rollups.py`, and at the start of a digest), and the roll-ups are read as
`digest_daily` plus the deltas not yet folded (`ROLLED`), so they are exact at any moment, folded or
not. On SQLite the triggers update `digest_daily` in place and the delta table stays empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select, text, union_all
from sqlalchemy.engine import Connection

from db.models import digest_daily, digest_daily_delta

DAY = timedelta(days=1)

# The roll-ups as the digest reads them: the folded rows and the changes not yet folded (one statement
# reads both, so a fold committing meanwhile is seen whole or not at all).
ROLLED = union_all(
    select(digest_daily.c.measure, digest_daily.c.day, digest_daily.c.name, digest_daily.c.n),
    select(
        digest_daily_delta.c.measure,
        digest_daily_delta.c.day,
        digest_daily_delta.c.name,
        digest_daily_delta.c.n,
    ),
).subquery("rolled")

# An arbitrary 64-bit key naming "the digest roll-ups' fold" among advisory locks.
FOLD_LOCK_KEY = 0x5B_D1_6E_57_F0

_FOLD = text(
    "WITH moved AS (DELETE FROM digest_daily_delta RETURNING measure, day, name, n)"
    " INSERT INTO digest_daily (measure, day, name, n)"
    " SELECT measure, day, name, sum(n) FROM moved GROUP BY measure, day, name"
    " ORDER BY measure, day, name"
    " ON CONFLICT (measure, day, name) DO UPDATE SET n = digest_daily.n + excluded.n"
)


def fold(conn: Connection) -> int:
    """Move the pending changes (PostgreSQL) into `digest_daily`, in the caller's transaction: the
    deltas this statement sees are deleted and their sums added in one statement, so each is counted
    exactly once, before or after. A delta of a transaction still open is not seen and stays for the
    next fold. Folds take a transaction-level advisory lock, so two never race on the same rows;
    intakes take no lock a fold holds. How many (measure, day, name) rows it touched; 0 on SQLite."""
    if conn.dialect.name != "postgresql":
        return 0
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FOLD_LOCK_KEY})
    return int(conn.execute(_FOLD).rowcount or 0)


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
    rolled_name: Any  # the name, from ROLLED's columns
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
            where = [ROLLED.c.measure.in_(measure.measures), ROLLED.c.day < last]
            if first is not None:
                where.append(ROLLED.c.day >= first)
            selects.append(
                select(
                    measure.rolled_name.label("name"),
                    tag.label("bucket"),
                    func.sum(ROLLED.c.n).label("n"),
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
