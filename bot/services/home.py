"""Asking for a person's App Home to be published again (outbox kind `home`, one pending per person),
in the transaction of the change it shows: a booking, a claim, an escalation or its Jira status."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.domain.outbox import RefreshHome
from bot.services import outbox
from db.models import issues


def refresh_home(conn: Connection, user: str | None) -> None:
    if user:
        outbox.enqueue_in(conn, RefreshHome(user), dedupe_key=f"home:{user}")


def refresh_claimers(conn: Connection, problem_id: int) -> None:
    """The people with a claimed report of the problem (their "issues you're on" changed)."""
    claimers = conn.execute(
        select(issues.c.claimed_by)
        .where(issues.c.problem_id == problem_id, issues.c.claimed_by.is_not(None))
        .distinct()
    ).scalars()
    for user in claimers:
        refresh_home(conn, user)
