"""The digest roll-ups' fold on the clock (PostgreSQL): every `FOLD_SECONDS`, the changes the triggers
appended to `digest_daily_delta` move into `digest_daily` (`bot.services.digest_rollups.fold`), so the
digest reads few delta rows. Missing a round costs nothing but a longer delta table: the digest reads
both and folds first itself."""

from __future__ import annotations

from collections.abc import Callable

from bot.services.digest_rollups import fold
from db.session import Database
from schedules.scheduler import Scheduler, guarded_job

FOLD_SECONDS = 60.0


async def fold_rollups(database: Database) -> None:
    """One fold in a transaction of its own. Returns nothing: it enqueues nothing to deliver."""
    await database.transaction(fold)


def register(scheduler: Scheduler, database: Database, wake: Callable[[], None]) -> None:
    """Fold every `FOLD_SECONDS` on PostgreSQL (SQLite's triggers update `digest_daily` in place)."""
    if database.dialect != "postgresql":
        return
    job = guarded_job("digest_rollups_fold", lambda: fold_rollups(database), wake)
    scheduler.add_job(job, "interval", seconds=FOLD_SECONDS)
