"""PostgreSQL deadlocks: recognised from the real server's error, and the transaction run again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.session import Database, is_retryable_conflict


async def deadlock_error(database: Database) -> DBAPIError:
    """Make PostgreSQL pick a deadlock victim between two connections; return the victim's error."""
    await database.transaction(lambda conn: conn.execute(text("DROP TABLE IF EXISTS deadlock_probe")))
    await database.transaction(
        lambda conn: conn.execute(text("CREATE TABLE deadlock_probe (id int primary key, v int)"))
    )
    await database.transaction(
        lambda conn: conn.execute(text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)"))
    )
    one, two = await database.engine.connect(), await database.engine.connect()
    try:
        await one.execute(text("UPDATE deadlock_probe SET v = 1 WHERE id = 1"))
        await two.execute(text("UPDATE deadlock_probe SET v = 2 WHERE id = 2"))
        results = await asyncio.gather(
            one.execute(text("UPDATE deadlock_probe SET v = 1 WHERE id = 2")),
            two.execute(text("UPDATE deadlock_probe SET v = 2 WHERE id = 1")),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, DBAPIError)]
        assert len(errors) == 1, results
        return errors[0]
    finally:
        await one.close()
        await two.close()


# PostgreSQL only: SQLite writes are serialized on one thread, so they cannot deadlock.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_deadlock_victim_is_recognised_and_its_transaction_run_again(database_url: str) -> None:
    database = Database(database_url)
    try:
        error = await deadlock_error(database)
        assert is_retryable_conflict(error)
        attempts = 0

        def work(conn: object) -> str:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise error
            return "done"

        assert await database.transaction(work) == "done"  # type: ignore[arg-type]
        assert attempts == 2
    finally:
        await database.dispose()
