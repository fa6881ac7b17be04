"""First-response SLAs on the clock: every `CHECK_SECONDS`, the reminders now due
(`bot.services.sla_reminders`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.config import AppConfig
from bot.services.sla_reminders import send_reminders
from db.models import utcnow
from db.session import Database
from schedules.scheduler import Scheduler, guarded_job

CHECK_SECONDS = 30.0


async def check_first_response(database: Database, config: AppConfig, now: datetime | None = None) -> int:
    if not config.sla.targets:
        return 0
    moment = now or utcnow()
    return await database.transaction(lambda conn: send_reminders(conn, config, moment))


def register(scheduler: Scheduler, database: Database, config: AppConfig, wake: Callable[[], None]) -> None:
    """Check every `CHECK_SECONDS` (in the process that runs the scheduler), when SLAs are configured."""
    if not config.sla.targets:
        return
    job = guarded_job("first_response_check", lambda: check_first_response(database, config), wake)
    scheduler.add_job(job, "interval", seconds=CHECK_SECONDS)
