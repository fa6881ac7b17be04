"""Statements that differ by backend (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def upsert_for(conn: Connection, table: Any) -> Any:
    """An INSERT that accepts ON CONFLICT clauses, for the connection's backend (SQLite or PostgreSQL)."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def seconds_between(conn: Connection, start: Any, end: Any) -> Any:
    """`end - start` in seconds as a SQL expression, on either backend."""
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    # SQLite stores UTC text; julianday() differences are days.
    return (func.julianday(end) - func.julianday(start)) * 86400
