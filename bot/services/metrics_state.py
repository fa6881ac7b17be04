"""The gauges computed when /metrics is scraped: outbox depth, age and dead letters by kind, open
problems by severity, unclaimed issues past their first-response SLA, the database pool.

Each is one bounded, indexed query; the result is kept `STATE_TTL_SECONDS` so a burst of scrapes (several
Prometheus servers, a dashboard refresh) costs one round of queries. A database that is down leaves the
last values and counts a database error: the scrape itself still answers.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from bot import metrics
from bot.config import AppConfig
from bot.sla import due_at
from db.models import issues, outbox_items, problems, utcnow
from db.session import Database, DatabaseUnavailable

STATE_TTL_SECONDS = 5.0
MAX_UNCLAIMED_EXAMINED = 5000


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class MetricsState:
    def __init__(self, *, ttl: float = STATE_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._refreshed_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, database: Database, config: AppConfig) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._refreshed_at is not None and now - self._refreshed_at < self.ttl:
                return
            self._refreshed_at = now
            _pool(database)
            try:
                await _query(database, config)
            except DatabaseUnavailable:
                metrics.DB_ERRORS.labels(kind="unavailable").inc()


def _pool(database: Database) -> None:
    checked_out = getattr(database.engine.sync_engine.pool, "checkedout", None)
    if callable(checked_out):
        metrics.DB_POOL_IN_USE.set(checked_out())


async def _query(database: Database, config: AppConfig) -> None:
    now = utcnow()
    async with database.read_session() as session:
        outbox = (
            await session.execute(
                select(
                    outbox_items.c.kind,
                    outbox_items.c.status,
                    func.count(),
                    func.min(outbox_items.c.created_at),
                )
                .where(outbox_items.c.status.in_(("pending", "dead")))
                .group_by(outbox_items.c.kind, outbox_items.c.status)
            )
        ).all()
        open_problems = (
            await session.execute(
                select(issues.c.severity, func.count())
                .select_from(problems)
                .join(issues, problems.c.primary_issue_id == issues.c.id)
                .where(problems.c.status == "open")
                .group_by(issues.c.severity)
            )
        ).all()
        unclaimed = (
            await session.execute(
                select(issues.c.severity, issues.c.received_at)
                .where(
                    issues.c.status == "open",
                    issues.c.claimed_by.is_(None),
                    issues.c.first_response_at.is_(None),
                )
                .order_by(issues.c.received_at)
                .limit(MAX_UNCLAIMED_EXAMINED)
            )
        ).all()
    for gauge in (metrics.OUTBOX_DEPTH, metrics.OUTBOX_OLDEST, metrics.DEAD_LETTERS):
        gauge.clear()
    for kind, status, count, oldest in outbox:
        if status == "dead":
            metrics.DEAD_LETTERS.labels(kind=kind).set(count)
            continue
        metrics.OUTBOX_DEPTH.labels(kind=kind).set(count)
        if oldest is not None:
            age = (_aware(now) - _aware(oldest)).total_seconds()
            metrics.OUTBOX_OLDEST.labels(kind=kind).set(max(age, 0.0))
    by_severity = {severity: 0 for severity in metrics.SEVERITIES}
    for severity, count in open_problems:
        by_severity[severity if severity in by_severity else "other"] = count
    for severity, count in by_severity.items():
        metrics.OPEN_PROBLEMS.labels(severity=severity).set(count)
    late = dict.fromkeys(metrics.SEVERITIES, 0)
    sla = config.sla
    for severity, received in unclaimed:
        target = sla.target_for(severity) if severity in late else None
        if target is None:
            continue
        if due_at(_aware(received), target, config.zone, sla.business_hours) <= _aware(now):
            late[severity] += 1
    for severity, count in late.items():
        metrics.UNCLAIMED_PAST_SLA.labels(severity=severity).set(count)
