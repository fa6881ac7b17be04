"""Apply Alembic migrations: the only way the schema is created or changed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from db.session import Database, create_engine

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


async def upgrade(database: Database, revision: str = "head") -> None:
    config = alembic_config()

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    # Statements of a migration are not bounded like a request's: a backfill over a million reports
    # takes minutes (0015's on PostgreSQL, say), and the service's 30 s would fail it halfway.
    engine = (
        create_engine(database.url, command_timeout=None)
        if database.dialect == "postgresql"
        else database.engine
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        if engine is not database.engine:
            await engine.dispose()


async def pending_revisions(database: Database) -> list[str]:
    """Revisions not yet applied (empty when the schema is current)."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        current = await connection.run_sync(_current)
    if current == head:
        return []
    return [rev.revision for rev in script.iterate_revisions(head, current)]
