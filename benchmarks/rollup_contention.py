"""Benchmark (not a test) of what the digest roll-ups' triggers cost at intake.

Reports of one day are inserted by concurrent connections, each in its own transaction (the issue and a
tag, committed: what an intake writes that the triggers count), and the rate is printed for each set of
triggers on one database:

* PostgreSQL (`sb_bench_rollups`, made and dropped here): no roll-up triggers (migration 0013, before
  the roll-ups); per-day upsert triggers (the first version: each statement upserts the day's counter
  rows, so concurrent intakes of one day wait on each other's row locks until commit); and migration
  0014's triggers, which append to `digest_daily_delta` (no key, no shared row). Then again, in turn;
  then the fold of the deltas those rounds left, timed.
* SQLite (a file in a temporary directory; one writer): without and with 0014's row-level triggers,
  one commit per report.

Run: `.venv/bin/python -m benchmarks.rollup_contention [--connections N] [--reports N] [--backend
sqlite|postgresql]`. Loopback only; the PostgreSQL server is `BENCH_POSTGRES_DSN` (default the local
one).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_DATABASE = "sb_bench_rollups"
MIGRATION = ROOT / "db" / "migrations" / "versions" / "0014_digest_rollups.py"

ISSUE = (
    "INSERT INTO issues (source, external_id, problem_id, counts_as_customer, subject, body, product_area,"
    " severity, status, channel_id, reported_at, received_at, sla_level, updated_at) VALUES"
    " ('api', {key}, {problem}, true, 's', 'b', 'billing', 'normal', 'open', 'C1', {now}, {now}, 0, {now})"
)


def migration() -> Any:
    spec = importlib.util.spec_from_file_location("digest_rollups_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pg_triggers(upsert: bool) -> list[str]:
    """0014's PostgreSQL triggers, or (upsert) the first version's: the same statements writing the
    day's rows of `digest_daily` in key order instead of appending to the delta table."""
    module = migration()
    statements = []
    for name, when, table, options, body in module._triggers(module._Sql("postgresql")):
        if upsert:
            body = [
                s.replace(f"INSERT INTO {module.DELTA}", "INSERT INTO digest_daily")
                + (" ORDER BY measure, day, name" if s.endswith("<> 0") else "")
                + f" {module.UPSERT}"
                for s in body
            ]
        returned = "OLD" if when == "BEFORE DELETE" else "NULL"
        statements += [
            f"DROP TRIGGER IF EXISTS {name} ON {table}",
            f"DROP FUNCTION IF EXISTS {name}()",
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {'; '.join(body)}; "
            f"RETURN {returned}; END $$",
            f"CREATE TRIGGER {name} {when} ON {table} {options} EXECUTE FUNCTION {name}()",
        ]
    return statements


async def pg_round(url: str, label: str, connections: int, reports: int) -> float:
    import asyncpg

    conns = [await asyncpg.connect(url) for _ in range(connections)]
    problem = await conns[0].fetchval("SELECT id FROM problems LIMIT 1")
    insert = ISSUE.format(key="$1", problem="$2", now="now()") + " RETURNING id"

    async def writer(conn: Any, w: int) -> None:
        for i in range(reports):
            async with conn.transaction():
                issue = await conn.fetchval(insert, f"{label}-{w}-{i}", problem)
                await conn.execute("INSERT INTO issue_tags (issue_id, tag) VALUES ($1, 'bug')", issue)

    started = time.perf_counter()
    await asyncio.gather(*(writer(c, w) for w, c in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    return connections * reports / elapsed


async def run_postgres(connections: int, reports: int, rounds: int) -> None:
    import asyncpg

    from bot.services.digest_rollups import fold
    from db.migrate import upgrade
    from db.session import Database

    admin = await asyncpg.connect(PG_ADMIN, timeout=3)
    await admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {PG_DATABASE}")
    url = f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
    try:
        database = Database(url.replace("postgresql://", "postgresql+asyncpg://"))
        await upgrade(database, "0013")
        conn = await asyncpg.connect(url)
        await conn.execute(
            "INSERT INTO problems (title, status, created_at, updated_at) VALUES ('p', 'open', now(), now())"
        )
        await conn.close()
        print(f"PostgreSQL, {connections} connections x {reports} reports of one day (inserts/s)")
        rate = await pg_round(url, "none", connections, reports)
        print(f"  no roll-up triggers (0013)      {rate:7.0f}", flush=True)
        await upgrade(database, "0014")
        await database.dispose()
        for n in range(rounds):
            for label, upsert in (("deltas (0014)", False), ("per-day upserts (first version)", True)):
                conn = await asyncpg.connect(url)
                for statement in pg_triggers(upsert):
                    await conn.execute(statement)
                await conn.close()
                rate = await pg_round(url, f"{label[:6]}{n}", connections, reports)
                print(f"  {label:31} {rate:7.0f}", flush=True)
        # What the deltas rounds left pending, folded as the minutely job does.
        conn = await asyncpg.connect(url)
        for statement in pg_triggers(upsert=False):
            await conn.execute(statement)
        pending = await conn.fetchval("SELECT count(*) FROM digest_daily_delta")
        await conn.close()
        database = Database(url.replace("postgresql://", "postgresql+asyncpg://"))
        started = time.perf_counter()
        await database.transaction(fold)
        print(f"  fold of {pending:,} pending delta rows: {1000 * (time.perf_counter() - started):.0f} ms")
        await database.dispose()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        await admin.close()


def sqlite_round(path: str, label: str, reports: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # as db/session.py
    problem = conn.execute("SELECT id FROM problems LIMIT 1").fetchone()[0]
    insert = ISSUE.format(key="?", problem="?", now="datetime('now')")
    started = time.perf_counter()
    for i in range(reports):
        conn.execute("BEGIN IMMEDIATE")
        issue = conn.execute(insert, (f"{label}-{i}", problem)).lastrowid
        conn.execute("INSERT INTO issue_tags (issue_id, tag) VALUES (?, 'bug')", (issue,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return reports / elapsed


async def run_sqlite(reports: int, rounds: int) -> None:
    from db.migrate import upgrade
    from db.session import Database

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/rollups.db"
        database = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(database)
        await database.dispose()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(
            "INSERT INTO problems (title, status, created_at, updated_at)"
            " VALUES ('p', 'open', datetime('now'), datetime('now'))"
        )
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'digest_%'"
        ).fetchall()
        conn.close()
        print(f"SQLite, {reports} reports of one day, one commit each (inserts/s)")
        for n in range(rounds):
            for label, on in (("row-level triggers (0014)", True), ("no roll-up triggers", False)):
                conn = sqlite3.connect(path, isolation_level=None)
                for name, ddl in triggers:
                    conn.execute(f"DROP TRIGGER IF EXISTS {name}")
                    if on:
                        conn.execute(ddl)
                conn.close()
                rate = sqlite_round(path, f"{label[:6]}{n}", reports)
                print(f"  {label:31} {rate:7.0f}", flush=True)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--connections", type=int, default=50, help="PostgreSQL: concurrent writers")
    parser.add_argument("--reports", type=int, default=40, help="per connection (SQLite: 75 times this)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if args.backend in (None, "postgresql"):
        await run_postgres(args.connections, args.reports, args.rounds)
    if args.backend in (None, "sqlite"):
        await run_sqlite(75 * args.reports, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
