"""The migrations and the models describe the same schema, on both backends, and go down cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from db.migrate import alembic_config
from db.models import Base
from db.session import Database

# Each backend's own full-text index over report_terms is made by migration 0010 and is not in the
# models: SQLite's FTS5 table (and its shadow tables), PostgreSQL's tsvector column and its GIN index.
# Each database's own full-text index, made by the migrations and not in the models: SQLite's FTS5
# tables; PostgreSQL's tsvector, its GIN indexes and the open flag behind the partial one (0015).
FULL_TEXT_INDEX = {"report_fts", "tsv", "ix_report_terms_tsv", "ix_report_terms_open_tsv"}


def _not_full_text_index(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    if (
        type_ == "column"
        and name == "open"
        and getattr(getattr(obj, "table", None), "name", "") == "report_terms"
    ):
        return False
    return not (name and (name in FULL_TEXT_INDEX or name.startswith("report_fts_")))


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _not_full_text_index}
        )
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


async def test_0009_takes_workspace_members_off_slack_logged_reports(database: Database) -> None:
    """Reports logged from a Slack message recorded its author, a colleague, as the customer: the
    migration leaves them customer-less and uncounted; a customer named in a form stays."""
    config = alembic_config()
    rows = [
        # (issue id, customer id, identity key, e-mail, slack user, external id, origin_ts)
        (1, 1, "slack:id:U0PM000001", None, "U0PM000001", "C1:1.1", "1.1"),
        (2, 2, "email:ada@analytical.test", "ada@analytical.test", None, "C1:2.2", "2.2"),
    ]

    def seed_and_upgrade(connection: Connection) -> list[tuple[object, ...]]:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
        for issue, customer, key, email, user, external, ts in rows:
            connection.execute(
                text(
                    "INSERT INTO customers (id, identity_key, source, external_id, email, slack_user_id,"
                    " created_at, updated_at) VALUES (:id, :key, 'slack', :ext, :email, :user,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": customer, "key": key, "ext": user or email, "email": email, "user": user},
            )
            connection.execute(
                text(
                    "INSERT INTO problems (id, title, status, created_at, updated_at)"
                    " VALUES (:id, 'Exports fail', 'open', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": issue},
            )
            connection.execute(
                text(
                    "INSERT INTO issues (id, source, external_id, problem_id, customer_id, subject, body,"
                    " severity, status, origin_channel, origin_ts, channel_id, reported_at, received_at,"
                    " sla_level, updated_at) VALUES (:id, 'slack', :ext, :id, :customer, 'Exports fail', '',"
                    " 'normal', 'open', 'C1', :ts, 'C0DEFAULT', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"id": issue, "ext": external, "customer": customer, "ts": ts},
            )
        command.upgrade(config, "head")
        return [
            tuple(r)
            for r in connection.execute(
                text("SELECT id, customer_id, counts_as_customer FROM issues ORDER BY id")
            )
        ]

    async with database.engine.begin() as connection:
        migrated = await connection.run_sync(seed_and_upgrade)
    assert [(i, c, bool(n)) for i, c, n in migrated] == [(1, None, False), (2, 2, True)]
