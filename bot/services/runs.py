"""Claims of scheduled work: `once` records that a job sent what was due in a period, in the transaction
that enqueues it, so a restart, a second process or a late tick never sends twice.

A job whose moment passed while no process ran it still runs within `MISFIRE_GRACE_SECONDS` (the
scheduler's misfire grace; weekly and monthly posts use the same window for "not too late to send").
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from db.models import scheduled_runs, utcnow

MISFIRE_GRACE_SECONDS = 600


def once(conn: Connection, job: str, period: str) -> bool:
    """Claim `(job, period)` in the caller's transaction: True the first time only. What the job sends
    is enqueued in the same transaction, so a claim always comes with its sending and vice versa."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return bool(
        conn.execute(
            dialect.insert(scheduled_runs)
            .values(job=job[:64], period=period[:128], ran_at=utcnow())
            .on_conflict_do_nothing()
        ).rowcount
    )
