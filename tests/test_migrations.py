"""The migrations and the models describe the same schema, on both backends, and go down cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from db.migrate import alembic_config
from db.models import Base
from db.session import Database


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        diffs = await connection.run_sync(differences)
    assert diffs == []


async def test_downgrade_to_the_previous_revision_and_back(database: Database) -> None:
    config = alembic_config()

    def down_and_up(connection: Connection) -> tuple[set[str], set[str]]:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        after_down = set(inspect(connection).get_table_names())
        command.upgrade(config, "head")
        return after_down, set(inspect(connection).get_table_names())

    async with database.engine.begin() as connection:
        down, up = await connection.run_sync(down_and_up)
    assert "alerts" not in down and "shadow_sessions" in down
    assert {"alerts", "shadow_sessions", "shadow_bookings", "releases", "posted_messages"} <= up
