"""Problems for the pickers: the "Same problem as…" select on a card and the feedback modal's list."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from db.models import issues, problems


def problem_of_issue(conn: Connection, issue_id: int) -> int | None:
    """The problem an issue belongs to (None for an issue that does not exist)."""
    found = conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalar()
    return int(found) if found is not None else None


def problems_of_issue(conn: Connection, issue_id: int) -> list[int]:
    """The problem of issue `#issue_id`, as a list: empty when there is no such issue."""
    return list(conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalars())


def problems_led_by(conn: Connection, issue_id: int) -> list[int]:
    """The problems whose primary issue is `#issue_id`."""
    return list(conn.execute(select(problems.c.id).where(problems.c.primary_issue_id == issue_id)).scalars())


def recent_open_problems(conn: Connection, limit: int) -> list[int]:
    """The open problems changed last, newest first."""
    return list(
        conn.execute(
            select(problems.c.id)
            .where(problems.c.status == "open")
            .order_by(problems.c.updated_at.desc())
            .limit(limit)
        ).scalars()
    )
