"""Small query helpers shared by the services."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def upsert_for(conn: Connection, table: Any) -> Any:
    """An INSERT that accepts ON CONFLICT clauses, for the connection's backend (SQLite or PostgreSQL)."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
