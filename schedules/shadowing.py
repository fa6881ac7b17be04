"""Shadowing on the clock: every `TICK_SECONDS` what is due now (`bot.services.shadowing_clock`), and
hourly the recurring sessions of the coming weeks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.config import AppConfig
from bot.people import People
from bot.services import shadowing as svc
from bot.services import shadowing_clock as clock
from db.models import utcnow
from db.session import Database
from schedules.scheduler import Scheduler, guarded_job

TICK_SECONDS = 30.0
MATERIALIZE_SECONDS = 3600.0


async def tick(database: Database, config: AppConfig, people: People, now: datetime | None = None) -> int:
    """Everything due at `now`, each kind in its own transaction."""
    moment = now or utcnow()
    sent = await database.transaction(lambda conn: clock.weekly_posts(conn, config, moment))
    sent += await database.transaction(lambda conn: clock.reminders(conn, config, moment))
    sent += await database.transaction(lambda conn: clock.feedback_prompts(conn, config, moment))
    fairness = config.shadowing.fairness
    if fairness is not None and clock.nudge_due(config, moment):
        group = await people.expand(fairness.group)  # Slack lookups: outside the transaction
        sent += await database.transaction(lambda conn: clock.nudges(conn, config, moment, group))
    return sent


async def materialize(database: Database, config: AppConfig, now: datetime | None = None) -> int:
    moment = now or utcnow()
    return await database.transaction(lambda conn: svc.materialize(conn, config, moment))


def register(
    scheduler: Scheduler, database: Database, config: AppConfig, people: People, wake: Callable[[], None]
) -> None:
    if not config.shadowing.programmes:
        return
    job = guarded_job("shadowing_tick", lambda: tick(database, config, people), wake)
    scheduler.add_job(job, "interval", seconds=TICK_SECONDS)
    # First run at once, then hourly: sessions exist for the weekly post and for sign-ups from start.
    job = guarded_job("shadowing_sessions", lambda: materialize(database, config), wake)
    scheduler.add_job(job, "interval", seconds=MATERIALIZE_SECONDS, next_run_time=utcnow())
