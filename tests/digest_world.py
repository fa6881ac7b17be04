"""Rows for digest and alert tests, written straight into the tables so every timestamp is the test's."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from db.models import (
    customer_replies,
    customers,
    escalations,
    issue_events,
    issue_tags,
    issues,
    macros,
    problems,
)

_external = itertools.count(1)


def customer(conn: Connection, name: str) -> int:
    return int(
        conn.execute(
            insert(customers)
            .values(identity_key=f"email:{name}@example.com", source="test", external_id=name, name=name)
            .returning(customers.c.id)
        ).scalar_one()
    )


def problem(conn: Connection, title: str, created: datetime, status: str = "open") -> int:
    return int(
        conn.execute(
            insert(problems)
            .values(title=title, status=status, created_at=created, updated_at=created)
            .returning(problems.c.id)
        ).scalar_one()
    )


def report(
    conn: Connection,
    problem_id: int,
    customer_id: int,
    received: datetime,
    *,
    source: str = "webform",
    area: str | None = None,
    severity: str = "normal",
    tags: tuple[str, ...] = (),
    subject: str | None = None,
    **values: Any,
) -> int:
    issue_id = int(
        conn.execute(
            insert(issues)
            .values(
                source=source,
                external_id=f"x{next(_external)}",
                problem_id=problem_id,
                customer_id=customer_id,
                subject=subject or f"report {problem_id}",
                body="It does not work.",
                product_area=area,
                severity=severity,
                status="resolved" if values.get("resolved_at") else "open",
                channel_id="C0DEFAULT01",
                reported_at=received,
                received_at=received,
                updated_at=received,
                **values,
            )
            .returning(issues.c.id)
        ).scalar_one()
    )
    for tag in tags:
        conn.execute(insert(issue_tags).values(issue_id=issue_id, tag=tag))
    # The problem's first report names it (its card is the problem's card).
    conn.execute(
        update(problems)
        .where(problems.c.id == problem_id, problems.c.primary_issue_id.is_(None))
        .values(primary_issue_id=issue_id)
    )
    if subject is None:
        title = conn.execute(problems.select().where(problems.c.id == problem_id)).one().title
        conn.execute(update(issues).where(issues.c.id == issue_id).values(subject=title))
    return issue_id


def escalation(conn: Connection, problem_id: int, key: str, created: datetime, **values: Any) -> None:
    conn.execute(
        insert(escalations).values(
            problem_id=problem_id,
            state="created",
            jira_key=key,
            jira_url=f"https://jira.example.com/browse/{key}",
            created_at=created,
            updated_at=created,
            **values,
        )
    )


def event(conn: Connection, issue_id: int, kind: str, at: datetime) -> None:
    conn.execute(insert(issue_events).values(issue_id=issue_id, kind=kind, detail={}, created_at=at))


def macro(conn: Connection, name: str, text: str = "Here is how.", **values: Any) -> int:
    return int(
        conn.execute(
            insert(macros).values(name=name, text=text, **values).returning(macros.c.id)
        ).scalar_one()
    )


def reply(conn: Connection, issue_id: int, problem_id: int, created: datetime, macro_id: int | None) -> int:
    """A reply sent from a report (made from `macro_id`, if any) at `created`."""
    return int(
        conn.execute(
            insert(customer_replies)
            .values(
                issue_id=issue_id,
                problem_id=problem_id,
                channel="email",
                text="Here is how.",
                state="sent",
                macro_id=macro_id,
                created_at=created,
                updated_at=created,
            )
            .returning(customer_replies.c.id)
        ).scalar_one()
    )
