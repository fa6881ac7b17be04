"""Benchmark (not a test) of the weekly digest, `bot/services/digest.py`, on 1,000,000 issues.

For each backend a fresh database (SQLite: a file in a temporary directory; PostgreSQL: `sb_bench_digest`
on the local server, dropped at the end) is migrated with the project's Alembic migrations, then filled
by set-based SQL (PostgreSQL: `generate_series`; SQLite: a recursive CTE), from the same integer hashes on
both backends, so both hold exactly the same rows:

- 1,000,000 issues over two years, growing from 1x to 3x a day, with weekly seasonality (weekends about a
  third of a weekday) and office hours, so ids follow time as in a real install;
- 150,000 customers (half of the reports from a skewed few); about 120,000 problems, grown by preferential
  attachment (a report joins the problem of a random recent report, or starts its own one time in eight),
  so most problems have one or two reports and a few have thousands; each problem's first report is its
  primary issue; 12 product areas per problem (8 % none), 6 sources, 4 severities, 0-3 of 15 tags;
- 85 % answered (first_response_at), 70 % resolved, `created` history events for every issue and SLA
  reminders/escalations for late high and urgent ones, escalations for the bigger problems (some resolved
  in Jira), threshold alerts, and a card (slack_messages) for every primary issue;
- then `ANALYZE` (PostgreSQL: `VACUUM ANALYZE`, what autovacuum does after a bulk insert).

It then times `compute_digest` as the bot calls it (`Database.transaction`) for the last 7 days and the
last 30 days before the data's end: one warm-up run, then the median of `runs` runs; then the same digest
counted without the daily roll-ups (`compute_digest(..., rollups=False)`, the reference) likewise, and
checks that both give the same digest, and that both backends computed the same digest. The roll-ups'
triggers are off for the load (as the foreign keys) and the table is filled by migration 0014's backfill,
which the load times.

Run: `.venv/bin/python -m benchmarks.digest [--backend sqlite|postgresql] [--issues N] [--runs N]
[--statements]`, or `make bench BENCH_ARGS="--only digest"`. `run()` returns the figures for
benchmarks/run.py. Bounded: fixed counts, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from bot.config import AppConfig, parse_config  # noqa: E402
from bot.services.digest import Digest, compute_digest  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.session import Database  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_DATABASE = "sb_bench_digest"
KEPT_SQLITE = Path(tempfile.gettempdir()) / "sb_bench_digest.db"
TARGETS = {"sqlite": 3.0, "postgresql": 1.0}  # seconds for one whole digest
END = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Berlin: when the digest goes out
DAYS = 730
WINDOWS = (7, 30)

CUSTOMERS = 150_000
STARTER_PER_MILLE = 120  # a report starts a new problem one time in about eight: ~120,000 problems
# Otherwise it joins the problem of a random one of the last 30,000 reports (a few weeks): preferential
# attachment, so problems grow in proportion to their recent reports and die out when no longer reported,
# most after one or two reports, a few after hundreds or a thousand.
PARENT_WINDOW = 30_000
# And 3 % of reports are about one of 50 evergreen problems (the first 50 reports), Zipf-like: the first
# gets about 4,000 reports over the two years.
EVERGREEN = 50
EVERGREEN_PERCENT = 3
SOURCES = (("email", 35), ("webform", 20), ("zendesk", 15), ("intercom", 15), ("slack", 10), ("api", 5))
AREAS = (
    "billing",
    "auth",
    "reports",
    "exports",
    "integrations",
    "mobile",
    "notifications",
    "search",
    "api",
    "permissions",
    "calendar",
    "editor",
)
TAGS = (
    "bug",
    "ui",
    "performance",
    "data-loss",
    "regression",
    "feature-request",
    "security",
    "crash",
    "sync",
    "docs",
    "onboarding",
    "pricing",
    "accessibility",
    "email",
    "outage",
)
SEVERITIES = (("low", 15), ("normal", 60), ("high", 20), ("urgent", 5))
SLA_TARGET = 4 * 3600  # seconds to a first response for high and urgent reports
THRESHOLDS = (3, 5, 10, 25, 50, 100)
P = 2_147_483_647  # 2^31 - 1: squares of residues fit in 64 bits


# ------------------------------------------------------------------------------------------ generator


def _hash(column: str, salt: int) -> str:
    """A pseudo-random integer in [0, P) from an integer column: two rounds of squaring modulo P after
    an affine step. Integer arithmetic only, so SQLite and PostgreSQL compute the same values."""
    x = f"(({column} * 1103515245 + {7919 * salt + 17}) % {P})"
    y = f"(({x} * {x} + {1000003 * salt}) % {P})"
    return f"(({y} * {y} + 12345) % {P})"


def _pick(value: str, weighted: tuple[tuple[str, int], ...]) -> str:
    """CASE choosing a label by `value % 100` against cumulative percentages."""
    parts, cumulative = [], 0
    for label, share in weighted[:-1]:
        cumulative += share
        parts.append(f"WHEN {value} % 100 < {cumulative} THEN '{label}'")
    return f"CASE {' '.join(parts)} ELSE '{weighted[-1][0]}' END"


def _skewed(value: str, n: int) -> str:
    """An integer in [0, n), denser near 0 (density ~ 1/sqrt): floor(n * u^2), in integers."""
    return f"({n} * ({value} % 100000) * ({value} % 100000) / 10000000000)"


def hour_counts(total: int, seed: int = 20261123) -> list[tuple[int, int, int]]:
    """(first issue id, count, epoch of the hour) for every hour of the two years with reports: growth
    from 1x to 3x, weekends at 0.35, evenings at 0.45 and nights at 0.15 of office hours, +-15 % noise."""
    rng = random.Random(seed)
    first = END - timedelta(days=DAYS)
    weights = []
    for h in range(DAYS * 24):
        moment = first + timedelta(hours=h)
        growth = 1 + 2 * h / (DAYS * 24)
        weekday = 0.35 if moment.weekday() >= 5 else 1.0
        local_hour = (moment.hour + 1) % 24
        daytime = 1.0 if 8 <= local_hour < 19 else (0.45 if 6 <= local_hour < 22 else 0.15)
        weights.append(growth * weekday * daytime * rng.uniform(0.85, 1.15))
    scale = total / sum(weights)
    rows, done, acc = [], 0, 0.0
    for h, weight in enumerate(weights):
        acc += weight * scale
        n = min(round(acc), total) - done
        if n > 0:
            rows.append((done + 1, n, int((first + timedelta(hours=h)).timestamp())))
            done += n
    if done < total:
        start, n, epoch = rows[-1]
        rows[-1] = (start, n + total - done, epoch)
    return rows


@dataclass
class Dialect:
    name: str
    unlogged: str
    seq: str  # (i, t) for i in 1..N from bench_hours
    ts: str  # format for an epoch column as the column's stored timestamp


SQLITE = Dialect(
    "sqlite",
    "",
    "WITH RECURSIVE s(i, t0, n, k) AS (SELECT start_i, epoch, n, 0 FROM bench_hours"
    " UNION ALL SELECT i + 1, t0, n, k + 1 FROM s WHERE k + 1 < n) SELECT i, t0 + (k * 3600) / n AS t FROM s",
    # SQLAlchemy's storage format for DateTime on SQLite (UTCDateTime stores naive UTC).
    "(strftime('%Y-%m-%d %H:%M:%S', {}, 'unixepoch') || '.000000')",
)
POSTGRES = Dialect(
    "postgresql",
    "UNLOGGED ",
    "SELECT h.start_i + g AS i, h.epoch + (g * 3600) / h.n AS t"
    " FROM bench_hours h CROSS JOIN LATERAL generate_series(0, h.n - 1) g",
    "to_timestamp({})",
)


BIG_TABLES = ("issues", "issue_tags", "issue_events", "problems", "slack_messages", "alerts")


def staging_statements(d: Dialect) -> list[tuple[str, str]]:
    """Per report: its time and ten hashes (each computed once), then what they decide."""
    end_epoch = int(END.timestamp())
    hashes = ", ".join(f"{_hash('i', salt)} AS h{salt}" for salt in range(10))
    # First response: 85 %, 2 minutes to 2 days (median about 6 hours); resolution: 70 % of all, 10
    # minutes to 2 weeks after it; neither after the data's end.
    fr = "(t + 120 + 172800 * (h5 % 1000) * (h5 % 1000) * (h5 % 1000) / 1000000000)"
    rs = f"({fr} + 600 + 1209600 * (h6 % 1000) * (h6 % 1000) * (h6 % 1000) / 1000000000)"
    return [
        (
            "hashes",
            f"CREATE {d.unlogged}TABLE bench_r AS SELECT i, t, {hashes} FROM ({d.seq}) AS seq",
        ),
        (
            "reports (staging)",
            f"CREATE {d.unlogged}TABLE bench_i (i BIGINT PRIMARY KEY, t BIGINT NOT NULL,"
            " parent BIGINT NOT NULL, customer_id BIGINT NOT NULL, source TEXT NOT NULL,"
            " severity TEXT NOT NULL, fr BIGINT, rs BIGINT,"
            " ntags INTEGER NOT NULL, tagbase INTEGER NOT NULL, tagstep INTEGER NOT NULL)",
        ),
        (
            "reports (staging)",
            f"INSERT INTO bench_i SELECT i, t,"
            f" CASE WHEN i <= {EVERGREEN} OR h0 % 1000 < {STARTER_PER_MILLE} THEN i"
            f"      WHEN h1 % 100 < {EVERGREEN_PERCENT} THEN 1 + {_skewed('(h1 / 100)', EVERGREEN)}"
            # In the first weeks, a pick before the first report starts a problem instead.
            f"      WHEN (h1 / 100) % {PARENT_WINDOW} >= i - 1 THEN i"
            f"      ELSE i - 1 - (h1 / 100) % {PARENT_WINDOW} END,"
            f" CASE WHEN h2 % 2 = 0 THEN 1 + h3 % {CUSTOMERS} ELSE 1 + {_skewed('h3', CUSTOMERS)} END,"
            f" {_pick('h4', SOURCES)}, {_pick('(h4 / 100)', SEVERITIES)},"
            f" CASE WHEN h7 % 100 < 85 AND {fr} < {end_epoch} THEN {fr} END,"
            f" CASE WHEN h7 % 100 < 70 AND {rs} < {end_epoch} THEN {rs} END,"
            f" CASE WHEN h8 % 100 < 25 THEN 0 WHEN h8 % 100 < 65 THEN 1 WHEN h8 % 100 < 90 THEN 2 ELSE 3 END,"
            f" {_skewed('h9', len(TAGS))}, 1 + (h9 / 100000) % 4"
            f" FROM bench_r ORDER BY i",
        ),
        ("reports (staging)", "DROP TABLE bench_r"),
    ]


def load_statements(d: Dialect) -> list[tuple[str, str]]:
    """(what, SQL) in order, once bench_i and bench_root (each report's problem's first report) exist."""
    end_epoch = int(END.timestamp())
    ts = d.ts.format
    area = _hash("p.pid", 11)
    area_name = " ".join(f"WHEN {i} THEN '{a}'" for i, a in enumerate(AREAS))
    tag_name = " ".join(f"WHEN {i} THEN '{t}'" for i, t in enumerate(TAGS))
    body = (
        "Hello, since this morning it does not work for our team anymore. We tried again after logging out"
        " and in, and in another browser, with the same result. Could you have a look? Thanks, a customer"
    )
    late = "b.severity IN ('high', 'urgent') AND (b.fr IS NULL OR b.fr > b.t + {0}) AND b.t + {0} < {1}"
    esc = _hash("p.pid", 12)
    opened = f"(p.first_t + 86400 + {esc} % 604800)"
    jira_done = f"({opened} + 3 * 86400 + ({esc} / 1000) % (60 * 86400))"
    resolved = f"p.last_t < {end_epoch - 30 * 86400} AND {area} % 10 < 8"
    return [
        (
            "problems (staging)",
            f"CREATE {d.unlogged}TABLE bench_p AS SELECT root, row_number() OVER (ORDER BY root) AS pid,"
            " count(*) AS reports, max(b.t) AS last_t, min(b.t) AS first_t"
            " FROM bench_root AS r JOIN bench_i AS b ON b.i = r.i GROUP BY root",
        ),
        ("problems (staging)", "CREATE UNIQUE INDEX bench_p_root ON bench_p (root)"),
        (
            "customers",
            f"INSERT INTO customers (id, identity_key, source, external_id, name, email, company, created_at,"
            f" updated_at) SELECT c, 'email:customer' || c || '@example.test', 'email', 'customer' || c,"
            f" 'Customer ' || c, 'customer' || c || '@example.test', 'Company ' || (c % 20000),"
            f" {ts(end_epoch - DAYS * 86400)}, {ts(end_epoch - DAYS * 86400)}"
            f" FROM (SELECT DISTINCT customer_id AS c FROM bench_i) AS used ORDER BY c",
        ),
        (
            "problems",
            f"INSERT INTO problems (id, title, status, primary_issue_id, created_at, updated_at, resolved_at)"
            f" SELECT p.pid, 'Problem ' || p.pid || ': something is broken',"
            f" CASE WHEN {resolved} THEN 'resolved' ELSE 'open' END, NULL,"
            f" {ts('p.first_t')}, {ts('p.last_t')},"
            f" CASE WHEN {resolved} THEN {ts('p.last_t + 86400')} END FROM bench_p AS p ORDER BY p.pid",
        ),
        (
            "issues",
            f"INSERT INTO issues (id, source, external_id, problem_id, customer_id, subject, body,"
            f" product_area,"
            f" severity, status, channel_id, reported_at, received_at, claimed_by, claimed_at,"
            f" first_response_at, resolved_by, resolved_at, sla_level, updated_at)"
            f" SELECT b.i, b.source, 'bench-' || b.i, p.pid, b.customer_id,"
            f" 'Problem ' || p.pid || ': something is broken', '{body}',"
            f" CASE WHEN {area} % 100 < 8 THEN NULL"
            f" ELSE CASE {_skewed(area, len(AREAS))} {area_name} END END,"
            f" b.severity, CASE WHEN b.rs IS NULL THEN 'open' ELSE 'resolved' END, 'C0ISSUES01',"
            f" {ts('b.t - 60')}, {ts('b.t')},"
            f" CASE WHEN b.fr IS NOT NULL THEN 'U0AGENT' || (b.i % 40) END, {ts('b.fr')}, {ts('b.fr')},"
            f" CASE WHEN b.rs IS NOT NULL THEN 'U0AGENT' || (b.i % 40) END, {ts('b.rs')},"
            f" CASE WHEN {late.format(SLA_TARGET, end_epoch)} THEN 1 ELSE 0 END,"
            f" {ts('coalesce(b.rs, b.fr, b.t)')}"
            f" FROM bench_i AS b JOIN bench_root AS r ON r.i = b.i JOIN bench_p AS p ON p.root = r.root"
            f" ORDER BY b.i",
        ),
        (
            "problems' primary issues",
            "UPDATE problems SET primary_issue_id = p.root FROM bench_p AS p WHERE p.pid = problems.id",
        ),
        (
            "issue_tags",
            f"INSERT INTO issue_tags (issue_id, tag) SELECT b.i, CASE (b.tagbase + k.k * b.tagstep)"
            f" % {len(TAGS)} {tag_name} END FROM bench_i AS b"
            f" JOIN (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2) AS k ON k.k < b.ntags"
            f" ORDER BY b.i, k.k",
        ),
        (
            "issue_events",
            f"INSERT INTO issue_events (issue_id, kind, actor, detail, created_at)"
            f" SELECT i, kind, NULL, '{{}}', ev_at FROM ("
            f" SELECT b.i, 'created' AS kind, {ts('b.t')} AS ev_at, b.t AS e, 0 AS o FROM bench_i AS b"
            f" UNION ALL SELECT b.i, 'sla_reminder', {ts(f'b.t + {SLA_TARGET}')}, b.t + {SLA_TARGET}, 1"
            f"  FROM bench_i AS b WHERE {late.format(SLA_TARGET, end_epoch)}"
            f" UNION ALL SELECT b.i, 'sla_escalation', {ts(f'b.t + {2 * SLA_TARGET}')},"
            f" b.t + {2 * SLA_TARGET},"
            f"  2 FROM bench_i AS b WHERE {late.format(2 * SLA_TARGET, end_epoch)}"
            f") AS e ORDER BY e, i, o",
        ),
        (
            "escalations",
            f"INSERT INTO escalations (problem_id, state, jira_key, jira_url, jira_status, jira_resolved_at,"
            f" attempts, created_at, updated_at)"
            f" SELECT p.pid, CASE WHEN {esc} % 20 = 0 THEN 'failed' WHEN {esc} % 20 = 1 THEN 'linked'"
            f" ELSE 'created' END, 'SUP-' || p.pid, 'https://jira.example.test/browse/SUP-' || p.pid,"
            f" CASE WHEN {esc} % 10 < 6 AND {jira_done} < {end_epoch} THEN 'Done' ELSE 'In Progress' END,"
            f" CASE WHEN {esc} % 10 < 6 AND {jira_done} < {end_epoch} THEN {ts(jira_done)} END, 1,"
            f" {ts(opened)}, {ts(opened)}"
            f" FROM bench_p AS p WHERE {opened} < {end_epoch} AND (p.reports >= 25 OR {esc} % 1000 < 10)"
            f" ORDER BY {opened}",
        ),
        (
            "alerts",
            f"INSERT INTO alerts (kind, subject, level, problem_id, observed, raised_at)"
            f" SELECT 'threshold', 'problem:' || problem_id, CAST(rn AS TEXT), problem_id, rn, received_at"
            f" FROM (SELECT problem_id, received_at,"
            f"  row_number() OVER (PARTITION BY problem_id ORDER BY received_at, id) AS rn FROM issues) AS r"
            f" WHERE rn IN ({', '.join(str(t) for t in THRESHOLDS)}) ORDER BY received_at, problem_id",
        ),
        (
            "slack_messages",
            f"INSERT INTO slack_messages (purpose, issue_id, channel, ts, permalink, created_at, updated_at)"
            f" SELECT 'issue_card', p.root, 'C0ISSUES01', (p.first_t + 1) || '.' || p.root,"
            f" 'https://example.slack.com/archives/C0ISSUES01/p' || p.root,"
            f" {ts('p.first_t + 1')}, {ts('p.first_t + 1')} FROM bench_p AS p ORDER BY p.root",
        ),
        ("drop staging", "DROP TABLE bench_i"),
        ("drop staging", "DROP TABLE bench_p"),
        ("drop staging", "DROP TABLE bench_root"),
        ("drop staging", "DROP TABLE bench_hours"),
    ]


def roots(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(report, its problem's first report), in one ordered pass: a report's parent is always earlier."""
    root: dict[int, int] = {}
    for i, parent in pairs:
        root[i] = i if parent == i else root[parent]
    return list(root.items())


def rollup_backfill(dialect: str) -> list[str]:
    """The statements with which migration 0014 fills `digest_daily` from existing reports."""
    import importlib.util

    path = ROOT / "db" / "migrations" / "versions" / "0014_digest_rollups.py"
    spec = importlib.util.spec_from_file_location("digest_rollups_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module._backfill(module._Sql(dialect)))


HOURS_DDL = "CREATE TABLE bench_hours (start_i BIGINT PRIMARY KEY, n INTEGER NOT NULL, epoch BIGINT NOT NULL)"
ROOTS_DDL = "CREATE TABLE bench_root (i BIGINT PRIMARY KEY, root BIGINT NOT NULL)"


class Loader(Protocol):
    """The few operations the load needs, on one backend's raw driver connection."""

    dialect: Dialect

    async def execute(self, sql: str) -> None: ...

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]: ...

    async def insert_many(self, table: str, rows: Sequence[tuple[int, ...]]) -> None: ...

    async def plain_indexes(self) -> list[tuple[str, str]]:
        """(name, DDL) of the indexes of the big tables that back no constraint, as Alembic made them."""
        ...


class SQLiteLoader:
    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql).fetchall()

    async def insert_many(self, table: str, rows: Sequence[tuple[int, ...]]) -> None:
        marks = ", ".join("?" for _ in rows[0])
        self.conn.execute("BEGIN")  # one transaction, not one per row
        self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        self.conn.execute("COMMIT")

    async def plain_indexes(self) -> list[tuple[str, str]]:
        tables = ", ".join(f"'{t}'" for t in BIG_TABLES)
        return await self.fetch(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({tables}) ORDER BY name"
        )


class PostgresLoader:
    dialect = POSTGRES

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.conn.fetch(sql)]

    async def insert_many(self, table: str, rows: Sequence[tuple[int, ...]]) -> None:
        await self.conn.copy_records_to_table(table, records=rows)

    async def plain_indexes(self) -> list[tuple[str, str]]:
        tables = ", ".join(f"'{t}'" for t in BIG_TABLES)
        return await self.fetch(
            f"SELECT indexname, indexdef FROM pg_indexes AS i WHERE schemaname = 'public'"
            f" AND tablename IN ({tables})"
            f" AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)"
            f" ORDER BY indexname"
        )


async def load(loader: Loader, total: int, log: Any) -> None:
    """Fill a migrated, empty database. Alembic's plain indexes of the big tables are dropped first and
    made again, from the DDL read back from the database, once the rows are in (a bulk load's usual
    order: building an index once is far cheaper than a million inserts into it)."""
    d = loader.dialect
    started = time.perf_counter()
    indexes = await loader.plain_indexes()
    for name, _ in indexes:
        await loader.execute(f"DROP INDEX {name}")
    # The roll-up triggers (migration 0014) are off for the load, as the foreign keys: on PostgreSQL
    # `session_replication_role = replica` skips them; SQLite's are dropped and made again. The roll-ups
    # are then filled by the migration's own backfill, which this times.
    triggers = (
        await loader.fetch(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'digest_%'"
        )
        if d.name == "sqlite"
        else []
    )
    for name, _ in triggers:
        await loader.execute(f"DROP TRIGGER {name}")
    await loader.execute(HOURS_DDL)
    await loader.insert_many("bench_hours", hour_counts(total))
    log("hours, indexes dropped", time.perf_counter() - started)
    for what, sql in staging_statements(d):
        started = time.perf_counter()
        await loader.execute(sql)
        log(what, time.perf_counter() - started)
    started = time.perf_counter()
    pairs = await loader.fetch("SELECT i, parent FROM bench_i ORDER BY i")
    await loader.execute(ROOTS_DDL)
    await loader.insert_many("bench_root", roots(pairs))
    log("problem of each report", time.perf_counter() - started)
    for what, sql in load_statements(d):
        started = time.perf_counter()
        await loader.execute(sql)
        log(what, time.perf_counter() - started)
    started = time.perf_counter()
    for _, ddl in indexes:
        await loader.execute(ddl)
    log(f"{len(indexes)} indexes made again", time.perf_counter() - started)
    started = time.perf_counter()
    for statement in rollup_backfill(d.name):
        await loader.execute(statement)
    for _, ddl in triggers:
        await loader.execute(ddl)
    log("roll-ups (0014's backfill)", time.perf_counter() - started)
    started = time.perf_counter()
    await loader.execute("ANALYZE" if d.name == "sqlite" else "VACUUM ANALYZE")
    log("ANALYZE" if d.name == "sqlite" else "VACUUM ANALYZE", time.perf_counter() - started)


async def load_sqlite(path: Path, total: int, log: Any) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")
        conn.execute("PRAGMA temp_store=MEMORY")
        await load(SQLiteLoader(conn), total, log)
        conn.execute("PRAGMA journal_mode=WAL")  # as the bot runs it
    finally:
        conn.close()


async def load_postgres(dsn: str, total: int, log: Any) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET work_mem = '256MB'")
        # Foreign-key triggers off for the load: the rows are consistent by construction.
        await conn.execute("SET session_replication_role = replica")
        await load(PostgresLoader(conn), total, log)
    finally:
        await conn.close()


# -------------------------------------------------------------------------------------------- timing


@dataclass
class WindowFigures:
    days: int
    runs: list[float]
    statements: list[tuple[float, str]] = field(default_factory=list)  # slowest of the last run
    raw_runs: list[float] = field(default_factory=list)  # the same digest counted without the roll-ups
    raw_differs: list[str] = field(default_factory=list)  # fields where it differs (none expected)

    @property
    def raw_median(self) -> float:
        return statistics.median(self.raw_runs) if self.raw_runs else float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


@dataclass
class BackendFigures:
    backend: str
    load_seconds: float
    shape: dict[str, int]
    windows: list[WindowFigures]
    digests: dict[int, Digest]
    skipped: str | None = None


class StatementTimer:
    """Seconds per statement on a connection's sync engine (SQLAlchemy events)."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.times: list[tuple[float, str]] = []

    def before(self, *_args: Any) -> None:
        self.started.append(time.perf_counter())

    def after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.times.append((time.perf_counter() - self.started.pop(), " ".join(statement.split())))

    @contextmanager
    def on(self, engine: Any) -> Iterator[None]:
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", self.before)
            event.remove(engine, "after_cursor_execute", self.after)


def shape_of(conn: Connection) -> dict[str, int]:
    from sqlalchemy import text

    counts = {}
    for table in ("issues", "customers", "problems", "issue_tags", "issue_events", "escalations", "alerts"):
        counts[table] = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    counts["resolved issues"] = int(
        conn.execute(text("SELECT count(*) FROM issues WHERE resolved_at IS NOT NULL")).scalar_one()
    )
    counts["largest problem"] = int(
        conn.execute(
            text("SELECT max(n) FROM (SELECT count(*) AS n FROM issues GROUP BY problem_id) AS s")
        ).scalar_one()
    )
    counts["sla events"] = int(
        conn.execute(text("SELECT count(*) FROM issue_events WHERE kind <> 'created'")).scalar_one()
    )
    return counts


async def time_digest(
    database: Database, config: AppConfig, days: int, runs: int
) -> tuple[WindowFigures, Digest]:
    start = END - timedelta(days=days)
    digest = await database.transaction(lambda conn: compute_digest(conn, config, start, END))  # warm-up
    figures = WindowFigures(days, [])
    for n in range(runs):
        timer = StatementTimer()
        engine = (
            database._sqlite_engine if database._sqlite_engine is not None else database.engine.sync_engine
        )
        with timer.on(engine) if n == runs - 1 else nullcontext():
            started = time.perf_counter()
            digest = await database.transaction(lambda conn: compute_digest(conn, config, start, END))
            figures.runs.append(time.perf_counter() - started)
        if n == runs - 1:
            figures.statements = sorted(timer.times, reverse=True)
    raw = await database.transaction(
        lambda conn: compute_digest(conn, config, start, END, rollups=False)
    )  # warm-up
    for _ in range(runs):
        started = time.perf_counter()
        raw = await database.transaction(lambda conn: compute_digest(conn, config, start, END, rollups=False))
        figures.raw_runs.append(time.perf_counter() - started)
    figures.raw_differs = differences(digest, raw)
    return figures, digest


async def pg_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def bench_backend(
    backend: str, total: int, runs: int, quiet: bool = False, keep: bool = False
) -> BackendFigures:
    def log(what: str, seconds: float) -> None:
        if not quiet:
            print(f"    {backend:10} load: {what:26} {seconds:6.1f}s", flush=True)

    config = parse_config(
        {
            "timezone": "Europe/Berlin",
            "channels": {"default": "C0ISSUES01", "digest": "C0DIGEST01"},
            "thresholds": list(THRESHOLDS),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            path = Path(tmp) / "digest.db"
            url = f"sqlite+aiosqlite:///{path}"
        else:
            try:
                await pg_admin(
                    f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)", f"CREATE DATABASE {PG_DATABASE}"
                )
            except Exception as exc:  # no server: skipped, as the other benchmarks do
                return BackendFigures(backend, 0, {}, [], {}, skipped=f"no PostgreSQL at {PG_ADMIN} ({exc})")
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DATABASE}"
        try:
            database = Database(url)
            try:
                await upgrade(database)
            finally:
                await database.dispose()
            started = time.perf_counter()
            if backend == "sqlite":
                await load_sqlite(path, total, log)
            else:
                await load_postgres(f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}", total, log)
            load_seconds = time.perf_counter() - started
            database = Database(url)
            try:
                shape = await database.transaction(shape_of)
                windows, digests = [], {}
                for days in WINDOWS:
                    figures, digest = await time_digest(database, config, days, runs)
                    windows.append(figures)
                    digests[days] = digest
            finally:
                await database.dispose()
        finally:
            if keep and backend == "sqlite" and path.exists():
                shutil.copyfile(path, KEPT_SQLITE)
            if backend == "postgresql" and not keep:
                await pg_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    return BackendFigures(backend, load_seconds, shape, windows, digests)


async def run(
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
    total: int = 1_000_000,
    runs: int = 5,
    quiet: bool = False,
    keep: bool = False,
) -> list[BackendFigures]:
    return [await bench_backend(backend, total, runs, quiet, keep) for backend in backends]


def print_figures(results: list[BackendFigures], total: int, statements: bool = False) -> None:
    for r in results:
        name = "SQLite" if r.backend == "sqlite" else "PostgreSQL"
        if r.skipped:
            print(f"{name:11} skipped: {r.skipped}")
            continue
        shape = ", ".join(f"{k} {v:,}" for k, v in r.shape.items())
        print(f"{name:11} loaded in {r.load_seconds:.0f}s: {shape}")
        target = TARGETS[r.backend]
        for w in r.windows:
            verdict = "meets" if w.median <= target else "ABOVE"
            print(
                f"{name:11} digest, last {w.days:2} days: median {w.median * 1000:6.0f} ms"
                f" over {len(w.runs)} runs"
                f" (min {min(w.runs) * 1000:.0f}, max {max(w.runs) * 1000:.0f}); "
                f"{w.median / target:.2f}x of the {target:.0f} s target ({verdict});"
                f" without the roll-ups {w.raw_median * 1000:.0f} ms"
                f" ({'same digest' if not w.raw_differs else 'DIFFERS: ' + ', '.join(w.raw_differs)})"
            )
            if statements:
                for seconds, sql in w.statements[:6]:
                    print(f"{'':13}{seconds * 1000:7.1f} ms  {sql[:150]}")
    done = [r for r in results if not r.skipped]
    if len(done) == 2:
        differ = [
            f"{d} days: {name}"
            for d in WINDOWS
            for name in differences(done[0].digests[d], done[1].digests[d])
        ]
        print(f"same digest on both backends: {'yes' if not differ else 'NO, ' + '; '.join(differ)}")


def differences(a: Digest, b: Digest) -> list[str]:
    """The digest's fields that differ, medians to within a second (SQLite computes them from julianday(),
    a float of days, to about a millisecond)."""

    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return abs(x - y) <= 1.0
        if isinstance(x, list | tuple) and isinstance(y, list | tuple):
            return len(x) == len(y) and all(same(u, v) for u, v in zip(x, y, strict=True))
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        return bool(x == y)

    left, right = asdict(a), asdict(b)
    return [name for name in left if not same(left[name], right[name])]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--issues", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--statements", action="store_true", help="print the slowest statements of a run")
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"keep the databases to profile them ({KEPT_SQLITE}, and {PG_DATABASE} on PostgreSQL)",
    )
    args = parser.parse_args(argv)
    backends = (args.backend,) if args.backend else ("sqlite", "postgresql")
    print(f"\n(d) weekly digest over {args.issues:,} issues")
    results = asyncio.run(run(backends, args.issues, args.runs, keep=args.keep))
    print_figures(results, args.issues, args.statements)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
