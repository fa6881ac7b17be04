"""Small query helpers shared by the services."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def upsert(session: AsyncSession, model: Any) -> Any:
    """An INSERT that accepts ON CONFLICT clauses, for the session's backend (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
