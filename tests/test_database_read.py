"""`Database.read`: lookups that only read, beside the writes rather than behind them."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import func, insert, select

from db.models import search_terms
from db.session import Database


async def count_terms(database: Database) -> int:
    return int(
        await database.read(
            lambda conn: conn.execute(select(func.count()).select_from(search_terms)).scalar_one()
        )
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_on_sqlite_a_read_does_not_wait_for_a_write_in_progress(database: Database) -> None:
    inside, release = threading.Event(), threading.Event()

    def slow_write(conn: object) -> None:
        conn.execute(insert(search_terms).values(term="export", reports=1))  # type: ignore[attr-defined]
        inside.set()
        release.wait(10)

    writing = asyncio.create_task(database.transaction(slow_write))
    assert await asyncio.to_thread(inside.wait, 5)
    # The writer holds SQLite's write lock now; the read answers from the committed snapshot.
    assert await asyncio.wait_for(count_terms(database), 2) == 0
    release.set()
    await writing
    assert await count_terms(database) == 1  # and sees the write once it has committed


async def test_a_read_never_commits(database: Database) -> None:
    await database.read(lambda conn: conn.execute(insert(search_terms).values(term="ghost", reports=1)))
    assert await count_terms(database) == 0
