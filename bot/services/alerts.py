"""Alerts in `channels.alerts`: a problem reaching a threshold of distinct customers, and a product area
or tag spiking. Each is raised once: the `alerts` row (unique per kind, subject and level) is the record,
inserted in the transaction that enqueues the post, so two checks racing, a burst of reports or a restart
never alert twice.

Thresholds are checked for the problems whose reports changed since the last check (a watermark on
`issues.updated_at`, kept in `scheduled_runs`), so a check costs what changed, not the whole table.

The spike rule (also in the README): for each product area and tag, the reports in the last 24 hours and
in the last 7 days are compared with what its trailing baseline, the 8 weeks before those 7 days, predicts
for a span of that length (`expected = baseline * span / 8 weeks`). A span spikes when it has at least
`digest.spike.min_count` reports, at least `digest.spike.ratio` times the expectation, and lies at least
`digest.spike.z` standard deviations above it, a count's deviation being the square root of its
expectation (Poisson), with the expectation floored at 0.5 so a brand-new area needs `min_count` reports.
A spike is alerted once; it clears when a check no longer flags it, and the same area and span alert
again only after it cleared and a full span has passed since the last alert.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, distinct, func, select, update
from sqlalchemy.engine import Connection

from bot.config import AppConfig, SpikeRule
from bot.domain.digest import EXPECTED_FLOOR, CrossedThreshold, Spike
from bot.domain.outbox import PostRenderer
from bot.services.posts import enqueue_post
from db.models import alerts, issue_tags, issues, problems, scheduled_runs
from db.queries import upsert_for
from db.queries.customers import counted_customer

THRESHOLD = "threshold"
SPIKE = "spike"

BASELINE = timedelta(weeks=8)
SPANS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
# Reports whose change committed a little after the check that saw an earlier `updated_at` are caught
# by starting each check this much before the previous one started.
WATERMARK_OVERLAP = timedelta(minutes=2)
FIRST_LOOK_BACK = timedelta(minutes=10)
WATERMARK = ("threshold-scan", "watermark")


# -- spikes ------------------------------------------------------------------------------------------


def is_spike(observed: int, expected: float, rule: SpikeRule) -> bool:
    """The module docstring's rule, for one count and its baseline expectation."""
    floor = max(expected, EXPECTED_FLOOR)
    return (
        observed >= rule.min_count
        and observed >= rule.ratio * floor
        and (observed - floor) / math.sqrt(floor) >= rule.z
    )


def find_spikes(conn: Connection, rule: SpikeRule, now: datetime) -> list[Spike]:
    """Every area and tag spiking at `now`, largest ratio first. One aggregate per dimension over the
    last 9 weeks; only the rule itself is applied here, to the aggregated rows."""
    week_ago = now - SPANS["7d"]
    baseline_start = week_ago - BASELINE
    received = issues.c.received_at
    found: list[Spike] = []
    for dimension, column, source in (
        ("area", issues.c.product_area, issues),
        ("tag", issue_tags.c.tag, issues.join(issue_tags, issue_tags.c.issue_id == issues.c.id)),
    ):
        rows = conn.execute(
            select(
                column.label("name"),
                func.sum(case((received >= now - SPANS["24h"], 1), else_=0)).label("day"),
                func.sum(case((received >= week_ago, 1), else_=0)).label("week"),
                func.sum(case((received < week_ago, 1), else_=0)).label("baseline"),
            )
            .select_from(source)
            .where(received >= baseline_start, received < now, column.is_not(None))
            .group_by(column)
        ).all()
        for row in rows:
            for span, observed in (("24h", int(row.day or 0)), ("7d", int(row.week or 0))):
                expected = int(row.baseline or 0) * (SPANS[span] / BASELINE)
                if is_spike(observed, expected, rule):
                    found.append(Spike(dimension, str(row.name), span, observed, round(expected, 2)))
    found.sort(key=lambda s: (-s.ratio, -s.observed, s.subject, s.span))
    return found


def spikes_raised(conn: Connection, start: datetime, end: datetime) -> list[Spike]:
    """The spikes alerted in [start, end) (the spike check runs every 15 minutes and records each),
    largest ratio first: the digest reads them rather than scanning 9 weeks again."""
    rows = conn.execute(
        select(alerts.c.subject, alerts.c.level, alerts.c.observed, alerts.c.expected).where(
            alerts.c.kind == SPIKE, alerts.c.raised_at >= start, alerts.c.raised_at < end
        )
    ).all()
    found = []
    for row in rows:
        dimension, _, name = str(row.subject).partition(":")
        found.append(Spike(dimension, name, str(row.level), int(row.observed), float(row.expected or 0)))
    found.sort(key=lambda s: (-s.ratio, -s.observed, s.subject, s.span))
    return found


def raise_spike_alerts(conn: Connection, config: AppConfig, now: datetime) -> int:
    """Alert each new spike once, clear those over; returns how many alerts were raised."""
    spikes = {(s.subject, s.span): s for s in find_spikes(conn, config.digest.spike, now)}
    rows = conn.execute(select(alerts).where(alerts.c.kind == SPIKE)).all()
    known = {(r.subject, r.level): r for r in rows}
    for key, active in known.items():
        if active.cleared_at is None and key not in spikes:
            conn.execute(update(alerts).where(alerts.c.id == active.id).values(cleared_at=now))
    raised: list[Spike] = []
    first_id: int | None = None
    for key, spike in spikes.items():
        row = known.get(key)
        if row is None:
            taken = conn.execute(
                upsert_for(conn, alerts)
                .values(
                    kind=SPIKE,
                    subject=spike.subject,
                    level=spike.span,
                    observed=spike.observed,
                    expected=spike.expected,
                    raised_at=now,
                )
                .on_conflict_do_nothing()
                .returning(alerts.c.id)
            ).scalar()
        elif row.cleared_at is not None and row.raised_at <= now - SPANS[spike.span]:
            taken = conn.execute(
                update(alerts)
                .where(alerts.c.id == row.id, alerts.c.cleared_at.is_not(None))
                .values(raised_at=now, cleared_at=None, observed=spike.observed, expected=spike.expected)
                .returning(alerts.c.id)
            ).scalar()
        else:
            continue
        if taken is None:
            continue
        raised.append(spike)
        first_id = first_id if first_id is not None else int(taken)
    if raised and config.channels.alerts:
        # One post per check, listing every spike it raised (largest first), each with the problem
        # most reported there in its span, so the line can link that card. Rows enqueued by earlier
        # versions (one spike each, `args` the spike itself) still render.
        lines = [{**asdict(s), "problem": _top_problem(conn, s, now)} for s in raised]
        enqueue_post(
            conn,
            channel=config.channels.alerts,
            key=f"alert:spikes:{first_id}:{now:%Y%m%dT%H%M%S}",
            render=PostRenderer.SPIKE_ALERT,
            args={"spikes": lines},
        )
    return len(raised)


def _top_problem(conn: Connection, spike: Spike, now: datetime) -> int | None:
    """The open (or resolved, not merged) problem with the most reports in the spike's area or tag over
    its span: the card a reader of the alert most likely wants."""
    if spike.dimension == "area":
        source: Any = issues
        where = issues.c.product_area == spike.name
    else:
        source = issues.join(issue_tags, issue_tags.c.issue_id == issues.c.id)
        where = issue_tags.c.tag == spike.name
    reports = func.count(issues.c.id)
    return conn.execute(
        select(issues.c.problem_id)
        .select_from(source.join(problems, problems.c.id == issues.c.problem_id))
        .where(
            where,
            problems.c.status != "merged",
            issues.c.received_at >= now - SPANS[spike.span],
            issues.c.received_at < now,
        )
        .group_by(issues.c.problem_id)
        .order_by(reports.desc(), issues.c.problem_id)
        .limit(1)
    ).scalar()


# -- thresholds --------------------------------------------------------------------------------------


def _watermark(conn: Connection) -> datetime | None:
    job, period = WATERMARK
    return conn.execute(
        select(scheduled_runs.c.ran_at).where(scheduled_runs.c.job == job, scheduled_runs.c.period == period)
    ).scalar()


def _set_watermark(conn: Connection, moment: datetime) -> None:
    job, period = WATERMARK
    statement = upsert_for(conn, scheduled_runs).values(job=job, period=period, ran_at=moment)
    conn.execute(statement.on_conflict_do_update(index_elements=["job", "period"], set_={"ran_at": moment}))


@dataclass(frozen=True)
class Crossing:
    problem_id: int
    customers: int
    thresholds: tuple[int, ...]  # newly reached, ascending


def customers_by_problem(conn: Connection, since: datetime, minimum: int) -> list[tuple[int, int]]:
    """(problem, distinct customers) for the open problems whose reports changed since `since` and that
    have at least `minimum` customers: one aggregate."""
    changed = select(issues.c.problem_id).where(issues.c.updated_at >= since).distinct().scalar_subquery()
    member = issues.alias("member")
    customers = func.count(distinct(counted_customer(member)))
    rows = conn.execute(
        select(member.c.problem_id, customers.label("customers"))
        .join(problems, and_(problems.c.id == member.c.problem_id, problems.c.status != "merged"))
        .where(member.c.problem_id.in_(changed))
        .group_by(member.c.problem_id)
        .having(customers >= minimum)
        .order_by(member.c.problem_id)
    ).all()
    return [(int(r.problem_id), int(r.customers)) for r in rows]


def raise_threshold_alerts(conn: Connection, config: AppConfig, now: datetime) -> list[Crossing]:
    """Record and enqueue every threshold newly reached since the last check. A problem that passes
    several thresholds at once (a merge, a burst after downtime) gets one post naming the highest."""
    if not config.thresholds:
        return []
    since = _watermark(conn) or now - FIRST_LOOK_BACK
    crossings: list[Crossing] = []
    for problem_id, count in customers_by_problem(conn, since, config.thresholds[0]):
        reached: list[int] = []
        for threshold in (t for t in config.thresholds if t <= count):
            taken = conn.execute(
                upsert_for(conn, alerts)
                .values(
                    kind=THRESHOLD,
                    subject=f"problem:{problem_id}",
                    level=str(threshold),
                    problem_id=problem_id,
                    observed=count,
                    raised_at=now,
                )
                .on_conflict_do_nothing()
                .returning(alerts.c.id)
            ).scalar()
            if taken is not None:
                reached.append(threshold)
        if not reached:
            continue
        crossings.append(Crossing(problem_id, count, tuple(reached)))
        if config.channels.alerts:
            enqueue_post(
                conn,
                channel=config.channels.alerts,
                key=f"alert:threshold:{problem_id}:{reached[-1]}",
                render=PostRenderer.THRESHOLD_ALERT,
                args={"problem": problem_id, "threshold": reached[-1]},
            )
    _set_watermark(conn, now - WATERMARK_OVERLAP)
    return crossings


def thresholds_crossed(conn: Connection, start: datetime, end: datetime) -> list[CrossedThreshold]:
    """Thresholds problems reached in [start, end), highest per problem, most recent first."""
    level = func.max(cast(alerts.c.level, Integer))
    rows = conn.execute(
        select(
            alerts.c.problem_id,
            issues.c.subject,
            level.label("threshold"),
            func.max(alerts.c.raised_at).label("raised_at"),
        )
        .join(problems, problems.c.id == alerts.c.problem_id)
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .where(alerts.c.kind == THRESHOLD, alerts.c.raised_at >= start, alerts.c.raised_at < end)
        .group_by(alerts.c.problem_id, issues.c.subject)
        .order_by(func.max(alerts.c.raised_at).desc(), alerts.c.problem_id)
    ).all()
    return [CrossedThreshold(int(r.problem_id), r.subject, int(r.threshold), r.raised_at) for r in rows]
