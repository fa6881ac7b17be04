"""The digest and the alerts on the clock.

- The weekly digest is looked for every `TICK_SECONDS` (`bot.services.digest.weekly_digest`).
- Thresholds are checked every `THRESHOLD_SECONDS`, spikes every `SPIKE_SECONDS` (`bot.services.alerts`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.config import AppConfig
from bot.services import alerts
from bot.services.digest import weekly_digest
from db.models import utcnow
from db.session import Database
from schedules.scheduler import Scheduler, guarded_job

TICK_SECONDS = 30.0
THRESHOLD_SECONDS = 15.0
SPIKE_SECONDS = 15 * 60.0


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
