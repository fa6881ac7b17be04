"""The digest and the alerts on the clock.

- The weekly digest goes to `channels.digest` at `digest.schedule` (default Mondays 09:00 in the
  configured zone) for the 7 days before that moment, claimed with `once("digest", <date>)` in the
  transaction that enqueues it: once a week whatever the number of processes, and still sent if the
  process was down at that moment for less than `MISFIRE_GRACE_SECONDS`.
- Thresholds are checked every `THRESHOLD_SECONDS`, spikes every `SPIKE_SECONDS` (`bot.services.alerts`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.services import alerts
from bot.services.digest import enqueue_digest
from db.models import utcnow
from db.session import Database
from schedules.scheduler import MISFIRE_GRACE_SECONDS, Scheduler, guarded_job, once

TICK_SECONDS = 30.0
THRESHOLD_SECONDS = 15.0
SPIKE_SECONDS = 15 * 60.0
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


async def digest_tick(database: Database, config: AppConfig, now: datetime | None = None) -> bool:
    moment = now or utcnow()
    return await database.transaction(lambda conn: weekly_digest(conn, config, moment))


async def check_thresholds(
    database: Database, config: AppConfig, now: datetime | None = None
) -> list[alerts.Crossing]:
    moment = now or utcnow()
    return await database.transaction(lambda conn: alerts.raise_threshold_alerts(conn, config, moment))


async def check_spikes(database: Database, config: AppConfig, now: datetime | None = None) -> int:
    moment = now or utcnow()
    return await database.transaction(lambda conn: alerts.raise_spike_alerts(conn, config, moment))


def register(scheduler: Scheduler, database: Database, config: AppConfig, wake: Callable[[], None]) -> None:
    if config.channels.digest:
        job = guarded_job("digest_job", lambda: digest_tick(database, config), wake)
        scheduler.add_job(job, "interval", seconds=TICK_SECONDS)
    if config.thresholds:
        job = guarded_job("threshold_job", lambda: check_thresholds(database, config), wake)
        scheduler.add_job(job, "interval", seconds=THRESHOLD_SECONDS)
    job = guarded_job("spike_job", lambda: check_spikes(database, config), wake)
    scheduler.add_job(job, "interval", seconds=SPIKE_SECONDS, next_run_time=utcnow())
