"""The complaint-frequency digest: every figure for a window [start, end) and the previous window of the
same length, each from a SQL aggregate (counts, distinct customers, medians by window functions), never
from a Python loop over issues. Queries: a Connection in, a Digest out (the one write is the roll-ups'
fold). The counts by receipt or resolution (totals, sources, areas, tags, backlog, trend) read whole
UTC days from the daily roll-ups
(`digest_daily` and, on PostgreSQL, the changes not yet folded into it: `bot.services.digest_rollups`;
a digest folds them first) and only a window's partial edge days from `issues`;
`compute_digest(..., rollups=False)` counts them all from `issues`, the reference they are tested against.

Definitions (also in the README):
- a new issue is one received in the window; a resolved issue one resolved in it, counted as won't do
  (not fixed) when its problem's Jira issue has a resolution in `jira.wont_do_resolutions`;
- a problem's customers are the distinct customers of its reports received in the window; the top
  problems rank by that, then by reports; its first-seen date is its earliest report ever;
- a new problem is one whose first report ever is in the window; a rising problem had customers in the
  previous window too and now has at least twice as many and at least `RISING_MIN_GAIN` more;
- time to first response runs from receipt to the first claim/resolve/merge, over the issues first
  answered in the window; time to resolution from receipt to resolution, over the issues resolved in it;
- an SLA breach is an issue whose first-response reminder (its target passed unanswered) fired in the
  window; the backlog is every issue open at the end, by age.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, literal, null, or_, select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.digest import AreaSatisfaction, Backlog, Change, Digest, ProblemLine, Timing, Trend
from bot.domain.escalation import EscalationState
from bot.domain.outbox import DigestChart, PostRenderer
from bot.services import outbox
from bot.services.alerts import spikes_raised, thresholds_crossed
from bot.services.cards import problem_summaries
from bot.services.digest_rollups import ROLLED, Measure, fold, parts
from bot.services.macros import most_used
from bot.services.posts import enqueue_post
from bot.services.runs import MISFIRE_GRACE_SECONDS, once
from db.models import csat_surveys, escalations, issue_events, issue_tags, issues, problems
from db.queries import seconds_between
from db.queries.customers import counts

MOST_USED_MACROS = 5  # "Most used answers": the saved answers most replies were made from

RISING_MIN_GAIN = 3
LIST_LIMIT = 5  # new and rising problems listed by name
DIMENSION_LIMIT = 8  # sources, areas and tags listed by name
TREND_WEEKS = 8
TREND_SERIES = 5
NO_AREA = "no area"
BACKLOG_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under 1 day", timedelta(days=1)),
    ("1\u20137 days", timedelta(days=7)),
    ("7\u201330 days", timedelta(days=30)),
    ("over 30 days", None),
)


def _split(column: Any, start: datetime) -> tuple[Any, Any]:
    """sum() of rows in the window and in the previous one, for rows already bounded to both."""
    return (
        func.coalesce(func.sum(case((column >= start, 1), else_=0)), 0),
        func.coalesce(func.sum(case((column < start, 1), else_=0)), 0),
    )


def _total(
    conn: Connection, label: str, column: Any, prev: datetime, start: datetime, end: datetime
) -> Change:
    now, before = _split(column, start)
    row = conn.execute(select(now, before).where(column >= prev, column < end)).one()
    return Change(label, int(row[0]), int(row[1]))


def _by(
    conn: Connection, column: Any, source: Any, prev: datetime, start: datetime, end: datetime, blank: str
) -> tuple[Change, ...]:
    now, before = _split(issues.c.received_at, start)
    rows = conn.execute(
        select(column.label("name"), now.label("now"), before.label("before"))
        .select_from(source)
        .where(issues.c.received_at >= prev, issues.c.received_at < end)
        .group_by(column)
        .order_by(now.desc(), before.desc(), column)
    ).all()
    return tuple(
        Change(str(r.name) if r.name is not None else blank, int(r.now), int(r.before)) for r in rows
    )


# -- the same counts from the daily roll-ups ---------------------------------------------------------
# What the digest counts per report by its receipt (or resolution) moment is rolled up per UTC day
# (`bot.services.digest_rollups`): whole days come from `digest_daily`, the partial days at a window's
# edges from `issues` (`ROLLED`: digest_daily plus the deltas not yet folded); each figure below
# equals the raw one above (tests/test_digest_rollups.py).

TAGGED = issues.join(issue_tags, issue_tags.c.issue_id == issues.c.id)
RECEIVED = Measure(("received",), ROLLED.c.name, None, issues, issues.c.received_at)
RESOLVED = Measure(("resolved",), ROLLED.c.name, None, issues, issues.c.resolved_at)
BY_SOURCE = Measure(("source",), ROLLED.c.name, issues.c.source, issues, issues.c.received_at)
BY_AREA = Measure(
    ("area", "area_none"),
    case((ROLLED.c.measure == "area_none", null()), else_=ROLLED.c.name),
    issues.c.product_area,
    issues,
    issues.c.received_at,
)
BY_TAG = Measure(("tag",), ROLLED.c.name, issue_tags.c.tag, TAGGED, issues.c.received_at)
OPEN = Measure(("open",), ROLLED.c.name, None, issues, issues.c.received_at, (issues.c.status == "open",))
TREND_AREA = Measure(
    ("area", "area_none"),
    case((ROLLED.c.measure == "area_none", literal(NO_AREA)), else_=ROLLED.c.name),
    func.coalesce(issues.c.product_area, NO_AREA),
    issues,
    issues.c.received_at,
)


def _two_windows(measure: Measure, prev: datetime, start: datetime, end: datetime) -> Any:
    """(name, now, before) per name with counts in either window, biggest first."""
    counted = parts(measure, ((1, start, end), (0, prev, start)))
    now = func.coalesce(func.sum(case((counted.c.bucket == 1, counted.c.n), else_=0)), 0)
    before = func.coalesce(func.sum(case((counted.c.bucket == 0, counted.c.n), else_=0)), 0)
    return (
        select(counted.c.name.label("name"), now.label("now"), before.label("before"))
        .group_by(counted.c.name)
        .having(or_(now > 0, before > 0))
        .order_by(now.desc(), before.desc(), counted.c.name)
    )


def _rolled_total(
    conn: Connection, label: str, measure: Measure, prev: datetime, start: datetime, end: datetime
) -> Change:
    row = conn.execute(_two_windows(measure, prev, start, end)).first()
    return Change(label, int(row.now), int(row.before)) if row is not None else Change(label, 0, 0)


def _rolled_by(
    conn: Connection, measure: Measure, prev: datetime, start: datetime, end: datetime, blank: str
) -> tuple[Change, ...]:
    rows = conn.execute(_two_windows(measure, prev, start, end)).all()
    return tuple(
        Change(str(r.name) if r.name is not None else blank, int(r.now), int(r.before)) for r in rows
    )


def _rolled_backlog(conn: Connection, end: datetime) -> Backlog:
    # The buckets are (older bound, newer bound] by age: as [lo, hi) ranges that is each bound plus
    # the databases' resolution, a microsecond; the newest ends at `end` itself (received before it).
    tick = timedelta(microseconds=1)
    buckets: list[tuple[int, datetime | None, datetime]] = []
    newer = end
    for number, (_label, age) in enumerate(BACKLOG_BUCKETS):
        older = end - age + tick if age is not None else None
        buckets.append((number, older, newer))
        if older is not None:
            newer = older
    counted = parts(OPEN, buckets)
    rows: dict[Any, Any] = dict(
        conn.execute(select(counted.c.bucket, func.sum(counted.c.n)).group_by(counted.c.bucket)).all()
    )
    counts = tuple((label, int(rows.get(i) or 0)) for i, (label, _) in enumerate(BACKLOG_BUCKETS))
    return Backlog(sum(n for _, n in counts), counts)


def _window_problems(prev: datetime, start: datetime, end: datetime) -> Any:
    """Per problem with reports in either window: distinct customers now and before, reports now."""
    in_window = issues.c.received_at >= start
    return (
        select(
            issues.c.problem_id.label("problem_id"),
            func.count(distinct(case((in_window & counts(issues), issues.c.customer_id)))).label("customers"),
            func.count(distinct(case((~in_window & counts(issues), issues.c.customer_id)))).label("before"),
            func.coalesce(func.sum(case((in_window, 1), else_=0)), 0).label("reports"),
        )
        .where(issues.c.received_at >= prev, issues.c.received_at < end)
        .group_by(issues.c.problem_id)
        .cte("window_problems")
    )


def _lines(
    conn: Connection, rows: Sequence[Any], wont_do: Callable[[str | None], bool] | None = None
) -> tuple[ProblemLine, ...]:
    """Problem lines for aggregated rows (problem_id, customers, before, reports), in their order."""
    ids = [int(r.problem_id) for r in rows]
    if not ids:
        return ()
    first = issues.alias("first_report")
    first_seen = dict(
        conn.execute(
            select(first.c.problem_id, func.min(first.c.received_at))
            .where(first.c.problem_id.in_(ids))
            .group_by(first.c.problem_id)
        ).all()
    )
    summaries = {s.id: s for s in problem_summaries(conn, ids, counts=False)}
    lines = []
    for row in rows:
        summary = summaries.get(row.problem_id)
        if summary is None:  # merged away between the two statements
            continue
        lines.append(
            ProblemLine(
                problem_id=int(row.problem_id),
                issue_id=summary.primary_issue_id,
                title=summary.subject,
                status=summary.status,
                customers=int(row.customers),
                customers_before=int(row.before),
                reports=int(row.reports),
                first_seen=first_seen[row.problem_id],
                jira_key=summary.jira_key,
                jira_url=summary.jira_url,
                jira_status=summary.jira_status,
                channel=summary.channel,
                permalink=summary.permalink,
                wont_do=wont_do is not None and wont_do(summary.jira_resolution),
            )
        )
    return tuple(lines)


def top_problems(
    conn: Connection,
    start: datetime,
    end: datetime,
    limit: int,
    wont_do: Callable[[str | None], bool] | None = None,
) -> tuple[ProblemLine, ...]:
    """The problems with the most distinct customers in [start, end), with their change."""
    window = _window_problems(start - (end - start), start, end)
    rows = conn.execute(
        select(window)
        .where(window.c.customers > 0)
        .order_by(window.c.customers.desc(), window.c.reports.desc(), window.c.problem_id)
        .limit(limit)
    ).all()
    return _lines(conn, rows, wont_do)


def _problem_figures(
    conn: Connection,
    prev: datetime,
    start: datetime,
    end: datetime,
    limit: int,
    wont_do: Callable[[str | None], bool] | None = None,
) -> tuple[Change, tuple[ProblemLine, ...], tuple[ProblemLine, ...], int, tuple[ProblemLine, ...], int]:
    """Counts, top, new and rising problems from one pass over the window's aggregate: window
    functions rank each list and count it, and only the rows some list shows come back."""
    window = _window_problems(prev, start, end)
    earlier = issues.alias("earlier")
    is_new = and_(
        window.c.customers > 0,
        window.c.before == 0,
        ~exists().where(earlier.c.problem_id == window.c.problem_id, earlier.c.received_at < prev),
    )
    is_rising = and_(
        window.c.before > 0,
        window.c.customers >= 2 * window.c.before,
        window.c.customers - window.c.before >= RISING_MIN_GAIN,
    )
    flags = select(
        window,
        case((window.c.customers > 0, 1), else_=0).label("reported"),
        case((is_new, 1), else_=0).label("new"),
        case((is_rising, 1), else_=0).label("rising"),
    ).subquery("flagged")
    ranked = (flags.c.customers.desc(), flags.c.reports.desc(), flags.c.problem_id)
    numbered = select(
        flags,
        func.sum(flags.c.reported).over().label("reported_total"),
        func.sum(case((flags.c.before > 0, 1), else_=0)).over().label("before_total"),
        func.sum(flags.c.new).over().label("new_total"),
        func.sum(flags.c.rising).over().label("rising_total"),
        func.row_number().over(partition_by=flags.c.reported, order_by=ranked).label("top_rank"),
        func.row_number().over(partition_by=flags.c.new, order_by=ranked).label("new_rank"),
        func.row_number()
        .over(partition_by=flags.c.rising, order_by=((flags.c.customers - flags.c.before).desc(), *ranked))
        .label("rising_rank"),
    ).subquery("numbered")
    rows = conn.execute(
        select(numbered).where(
            or_(
                and_(numbered.c.reported == 1, numbered.c.top_rank <= limit),
                and_(numbered.c.new == 1, numbered.c.new_rank <= LIST_LIMIT),
                and_(numbered.c.rising == 1, numbered.c.rising_rank <= LIST_LIMIT),
            )
        )
    ).all()
    if rows:  # every row carries the totals
        first = rows[0]
        counts = (int(first.reported_total or 0), int(first.before_total or 0))
        new_total, rising_total = int(first.new_total or 0), int(first.rising_total or 0)
    else:  # nothing to list: reports in the previous window at most
        before = conn.execute(select(func.count()).select_from(window).where(window.c.before > 0)).scalar()
        counts, new_total, rising_total = (0, int(before or 0)), 0, 0
    lines = {line.problem_id: line for line in _lines(conn, rows, wont_do)}

    def pick(flag: str, rank: str) -> tuple[ProblemLine, ...]:
        chosen = sorted((r for r in rows if getattr(r, flag) == 1), key=lambda r: getattr(r, rank))
        return tuple(lines[r.problem_id] for r in chosen if r.problem_id in lines)

    top = pick("reported", "top_rank")[:limit]
    return (
        Change("problems", *counts),
        top,
        pick("new", "new_rank")[:LIST_LIMIT],
        new_total,
        pick("rising", "rising_rank")[:LIST_LIMIT],
        rising_total,
    )


def _medians(
    conn: Connection, moment: Any, start: datetime, end: datetime, by_severity: bool
) -> dict[str, tuple[float, int]]:
    """Median seconds from receipt to `moment`, over the issues whose `moment` is in [start, end):
    the middle row (or the mean of the two middle rows) by window functions, per severity or overall."""
    group = issues.c.severity if by_severity else literal("all")
    durations = (
        select(group.label("grp"), seconds_between(conn, issues.c.received_at, moment).label("secs"))
        .where(moment >= start, moment < end)
        .subquery()
    )
    ranked = select(
        durations.c.grp,
        durations.c.secs,
        func.row_number().over(partition_by=durations.c.grp, order_by=durations.c.secs).label("rn"),
        func.count().over(partition_by=durations.c.grp).label("n"),
    ).subquery()
    rows = conn.execute(
        select(ranked.c.grp, func.avg(ranked.c.secs), func.max(ranked.c.n))
        .where(or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2))
        .group_by(ranked.c.grp)
    ).all()
    return {str(r[0]): (max(float(r[1]), 0.0), int(r[2])) for r in rows}


def _timings(conn: Connection, config: AppConfig, start: datetime, end: datetime) -> tuple[Timing, ...]:
    first = {
        **_medians(conn, issues.c.first_response_at, start, end, True),
        **_medians(conn, issues.c.first_response_at, start, end, False),
    }
    done = {
        **_medians(conn, issues.c.resolved_at, start, end, True),
        **_medians(conn, issues.c.resolved_at, start, end, False),
    }
    order = [str(s) for s in config.severities]
    order += [*sorted((set(first) | set(done)) - set(order) - {"all"}), "all"]
    timings = []
    for severity in order:
        if severity not in first and severity not in done:
            continue
        response, response_n = first.get(severity, (None, 0))
        resolution, resolution_n = done.get(severity, (None, 0))
        timings.append(Timing(severity, response, response_n, resolution, resolution_n))
    return tuple(timings)


def backlog(
    conn: Connection, end: datetime, buckets: Sequence[tuple[str, timedelta | None]] = BACKLOG_BUCKETS
) -> Backlog:
    """Every issue open at `end`, by age (`buckets`: label and upper age, youngest first, the last
    None)."""
    columns = []
    lower: datetime | None = None
    for _label, age in buckets:
        newer_than = end - age if age is not None else None
        condition = []
        if newer_than is not None:
            condition.append(issues.c.received_at > newer_than)
        if lower is not None:
            condition.append(issues.c.received_at <= lower)
        columns.append(func.coalesce(func.sum(case((and_(*condition), 1), else_=0)), 0))
        lower = newer_than
    row = conn.execute(select(*columns).where(issues.c.status == "open", issues.c.received_at < end)).one()
    counted = tuple((label, int(n)) for (label, _), n in zip(buckets, row, strict=True))
    return Backlog(sum(n for _, n in counted), counted)


def trend(
    conn: Connection,
    end: datetime,
    weeks: int = TREND_WEEKS,
    series: int = TREND_SERIES,
    *,
    rollups: bool = True,
) -> Trend:
    """Reports per week for the last `weeks` weeks before `end`, for the biggest product areas."""
    starts = tuple(end - timedelta(weeks=weeks - i) for i in range(weeks))
    if rollups:
        counted = parts(TREND_AREA, [(i, s, s + timedelta(weeks=1)) for i, s in enumerate(starts)])
        weekly = [
            func.coalesce(func.sum(case((counted.c.bucket == i, counted.c.n), else_=0)), 0).label(f"w{i}")
            for i in range(weeks)
        ]
        all_weeks = func.sum(counted.c.n)
        rows = conn.execute(
            select(counted.c.name.label("area"), *weekly)
            .group_by(counted.c.name)
            .having(all_weeks > 0)
            .order_by(all_weeks.desc(), counted.c.name)
            .limit(series)
        ).all()
        return Trend(starts, tuple((str(r.area), tuple(int(v) for v in r[1:])) for r in rows))
    area = func.coalesce(issues.c.product_area, NO_AREA)
    columns = [
        func.coalesce(
            func.sum(
                case(
                    (and_(issues.c.received_at >= s, issues.c.received_at < s + timedelta(weeks=1)), 1),
                    else_=0,
                )
            ),
            0,
        ).label(f"w{i}")
        for i, s in enumerate(starts)
    ]
    total = func.count()
    rows = conn.execute(
        select(area.label("area"), *columns)
        .where(issues.c.received_at >= starts[0], issues.c.received_at < end)
        .group_by(area)
        .order_by(total.desc(), area)
        .limit(series)
    ).all()
    return Trend(starts, tuple((str(r.area), tuple(int(v) for v in r[1:])) for r in rows))


def compute_digest(
    conn: Connection, config: AppConfig, start: datetime, end: datetime, *, rollups: bool = True
) -> Digest:
    """The digest of [start, end). `rollups=False` counts everything from the raw rows: the reference
    the roll-ups are checked against. With the roll-ups, on PostgreSQL, the pending changes are folded
    first (in this transaction), so the digest reads few delta rows."""
    if rollups:
        fold(conn)
    prev = start - (end - start)
    received = issues.c.received_at
    tagged = issues.join(issue_tags, issue_tags.c.issue_id == issues.c.id)
    problem_count, top, new, new_total, rising, rising_total = _problem_figures(
        conn, prev, start, end, config.digest.top_problems, config.jira.is_wont_do
    )
    sla_when = issue_events.c.created_at
    now, before = (
        func.count(distinct(case((sla_when >= start, issue_events.c.issue_id)))),
        func.count(distinct(case((sla_when < start, issue_events.c.issue_id)))),
    )
    sla = conn.execute(
        select(now, before).where(
            issue_events.c.kind.in_(("sla_reminder", "sla_escalation")), sla_when >= prev, sla_when < end
        )
    ).one()
    opened = escalations.c.created_at
    return Digest(
        start=start,
        end=end,
        new_issues=_rolled_total(conn, "new issues", RECEIVED, prev, start, end)
        if rollups
        else _total(conn, "new issues", received, prev, start, end),
        by_source=_rolled_by(conn, BY_SOURCE, prev, start, end, "unknown")
        if rollups
        else _by(conn, issues.c.source, issues, prev, start, end, "unknown"),
        by_area=_rolled_by(conn, BY_AREA, prev, start, end, NO_AREA)
        if rollups
        else _by(conn, issues.c.product_area, issues, prev, start, end, NO_AREA),
        by_tag=_rolled_by(conn, BY_TAG, prev, start, end, "")
        if rollups
        else _by(conn, issue_tags.c.tag, tagged, prev, start, end, ""),
        problems=problem_count,
        top=top,
        new_problems=new,
        new_problems_total=new_total,
        rising=rising,
        rising_total=rising_total,
        crossed=tuple(thresholds_crossed(conn, start, end)),
        spikes=tuple(spikes_raised(conn, start, end)),
        resolved=_rolled_total(conn, "resolved", RESOLVED, prev, start, end)
        if rollups
        else _total(conn, "resolved", issues.c.resolved_at, prev, start, end),
        backlog=_rolled_backlog(conn, end) if rollups else backlog(conn, end),
        timings=_timings(conn, config, start, end),
        sla_breaches=Change("SLA breaches", int(sla[0]), int(sla[1])),
        escalations_opened=_escalations(conn, opened, prev, start, end, opened_only=True),
        escalations_resolved=_escalations(conn, escalations.c.jira_resolved_at, prev, start, end),
        trend=trend(conn, end, rollups=rollups),
        satisfaction=_satisfaction(conn, start, end),
        resolved_wont_do=_resolved_wont_do(conn, config, prev, start, end),
        top_macros=most_used(conn, start, end, MOST_USED_MACROS),
    )


def _resolved_wont_do(
    conn: Connection, config: AppConfig, prev: datetime, start: datetime, end: datetime
) -> Change:
    """The issues resolved in each window whose problem Jira resolved as won't do. Which resolutions
    mean that is the configuration's rule (`JiraSettings.is_wont_do`, case and punctuation folded), so
    the few distinct resolutions are read first and matched here."""
    resolved = issues.c.resolved_at
    bounded = and_(resolved >= prev, resolved < end, escalations.c.jira_resolution.is_not(None))
    joined = issues.join(escalations, escalations.c.problem_id == issues.c.problem_id)
    names = conn.execute(
        select(escalations.c.jira_resolution).select_from(joined).where(bounded).distinct()
    ).scalars()
    chosen = [name for name in names if config.jira.is_wont_do(name)]
    if not chosen:
        return Change("won't do", 0, 0)
    now, before = _split(resolved, start)
    row = conn.execute(
        select(now, before).select_from(joined).where(bounded, escalations.c.jira_resolution.in_(chosen))
    ).one()
    return Change("won't do", int(row[0]), int(row[1]))


def _satisfaction(conn: Connection, start: datetime, end: datetime) -> tuple[AreaSatisfaction, ...]:
    """Satisfaction scores given in [start, end), by the product area of their problem's own report."""
    area = func.coalesce(issues.c.product_area, NO_AREA)
    rows = conn.execute(
        select(area, func.avg(csat_surveys.c.score), func.count(csat_surveys.c.score))
        .select_from(csat_surveys)
        .join(problems, problems.c.id == csat_surveys.c.problem_id)
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .where(
            csat_surveys.c.score.is_not(None),
            csat_surveys.c.answered_at >= start,
            csat_surveys.c.answered_at < end,
        )
        .group_by(area)
    ).all()
    found = [AreaSatisfaction(str(r[0]), round(float(r[1]), 1), int(r[2])) for r in rows]
    return tuple(sorted(found, key=lambda a: (-a.answers, a.area))[:DIMENSION_LIMIT])


def _escalations(
    conn: Connection,
    column: Any,
    prev: datetime,
    start: datetime,
    end: datetime,
    *,
    opened_only: bool = False,
) -> Change:
    now, before = _split(column, start)
    query = select(now, before).where(column >= prev, column < end)
    if opened_only:  # a request that never reached Jira is not an escalation
        query = query.where(escalations.c.state.in_((EscalationState.CREATED, EscalationState.LINKED)))
    row = conn.execute(query).one()
    return Change("escalations", int(row[0]), int(row[1]))


def enqueue_digest(conn: Connection, *, channel: str, start: datetime, end: datetime, key: str) -> None:
    """The digest post for [start, end) and its chart, in the caller's transaction."""
    window = {"start": start.isoformat(), "end": end.isoformat()}
    enqueue_post(conn, channel=channel, key=key, render=PostRenderer.DIGEST, args=window)
    outbox.enqueue_in(conn, DigestChart(key=key, **window), dedupe_key=f"chart:{key}"[:255])


# -- the weekly digest -------------------------------------------------------------------------------
# It goes to `channels.digest` at `digest.schedule` (default Mondays 09:00 in the configured zone) for
# the 7 days before that moment, claimed with `once("digest", <date>)` in the transaction that enqueues
# it: once a week whatever the number of processes, and still sent if the process was down at that
# moment for less than `MISFIRE_GRACE_SECONDS`.

GRACE = timedelta(seconds=MISFIRE_GRACE_SECONDS)
WEEK = timedelta(days=7)


def weekly_digest(conn: Connection, config: AppConfig, now: datetime) -> bool:
    """Enqueue this week's digest if its moment has come (within the grace) and it was not sent."""
    channel = config.channels.digest
    if channel is None:
        return False
    latest = config.digest.schedule.latest(now, config.zone)
    if now - latest > GRACE:
        return False
    day = latest.astimezone(config.zone).date().isoformat()
    if not once(conn, "digest", day):
        return False
    enqueue_digest(conn, channel=channel, start=latest - WEEK, end=latest, key=f"digest:{day}")
    return True
