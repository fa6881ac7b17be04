"""Engines and sessions.

SQLite is the single-process default. Two of its habits matter here:
- a deferred transaction that reads and then writes can fail with "database is locked" when another
  connection wrote in between, whatever the busy timeout; starting every transaction with
  `BEGIN IMMEDIATE` takes the write lock up front, so concurrent writers queue instead of failing
  (https://www.sqlite.org/lang_transaction.html, and SQLAlchemy's "Serializable isolation /
  Savepoints / Transactional DDL" recipe for pysqlite, which applies to aiosqlite as well);
- WAL lets readers (health checks) carry on while a writer holds the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from db.sqlite_writer import SQLiteWriter

log = logging.getLogger(__name__)

READ_ONLY = "supportbridge_read_only"
# The readers beside the SQLite writer: as many as the threads that run them (asyncio's default
# executor: min(32, cores + 4)), and the writer's own.
SQLITE_CONNECTIONS = min(32, (os.cpu_count() or 1) + 4) + 1
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
T = TypeVar("T")
# Synchronous work on one connection, as `Database.transaction` runs it: what handlers hand to services.
Work = Callable[[Connection], T]


DEADLOCK_RETRIES = 4
# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back whole.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


def is_retryable_conflict(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code is None:
        cause = getattr(exc.orig, "__cause__", None)
        code = getattr(cause, "sqlstate", None)
    return code in RETRYABLE_SQLSTATES


async def answer_within(work: Awaitable[T], seconds: float) -> T:
    """`work`'s result, or TimeoutError after `seconds` — without cancelling it. Cancelling a statement
    on a hung connection waits on that connection too (the driver's cancel request, the pool's reset),
    so a request that must answer in time leaves the work to finish or fail on its own (its effects
    are idempotent: a sender's retry finds what it stored) and answers now."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        task.add_done_callback(_consume)
        raise


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("work left after its deadline failed", extra={"error": type(task.exception()).__name__})


class DatabaseUnavailable(Exception):
    """The database cannot be reached or is not answering; callers answer 503."""


def is_unavailable_error(exc: BaseException) -> bool:
    """True for errors that mean "the database is down or busy", not "your data is wrong": refused,
    dropped, timed out (a hung server), or no connection free in the pool in time."""
    if isinstance(
        exc, DatabaseUnavailable | OperationalError | PoolTimeout | ConnectionError | TimeoutError | OSError
    ):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    name = type(getattr(exc, "orig", None) or exc).__name__
    return name in {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "InterfaceError",
        "TooManyConnectionsError",
        "AdminShutdownError",
    }


def _private_sqlite_file(database: str | None) -> None:
    """Create a new SQLite database file readable by its owner only (0600, not the umask's usual
    0644): it holds customer reports. SQLite gives its -wal and -shm files the same permissions."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists() and path.parent.is_dir():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def create_engine(database_url: str, *, command_timeout: float | None = 30, **kwargs: Any) -> AsyncEngine:
    """The async engine. `command_timeout` bounds each PostgreSQL statement (None: no bound, for
    migrations, whose backfills take minutes on a large database)."""
    url = make_url(database_url)
    # SQL parameters are customer text: an error names the statement, never the values.
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() == "sqlite":
        _private_sqlite_file(url.database)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping: it costs a round trip on every checkout of the hot path. A connection that died
    # with the server fails its statement instead, is discarded by the pool, and the caller answers
    # 503 so the sender retries; recycling bounds how long an idle connection is trusted.
    kwargs.setdefault("pool_recycle", 300)
    # Waits that stay inside Slack's 3 s: a pool exhausted or a server not accepting connections is
    # "unavailable" (503, retried by the sender) after 2 s, not after a queue of 5 s waits. Statements
    # get 30 s (the digest's aggregates); what answers a request bounds its own wait (`asyncio.timeout`).
    kwargs.setdefault("pool_timeout", 2)
    return create_async_engine(url, connect_args={"timeout": 2, "command_timeout": command_timeout}, **kwargs)


def _configure_sqlite(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        database = engine.url.database
        if database and database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only sessions start deferred: under WAL they read a snapshot without taking the lock.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


class Database:
    """The engine and session factory, built once and passed down."""

    def __init__(self, database_url: str, **engine_kwargs: Any) -> None:
        self.url = database_url
        self.engine = create_engine(database_url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a connection waiting for the lock polls with growing
        # sleeps (its busy handler), which turns 50 concurrent writes into second-long tails. In one
        # process a FIFO asyncio lock queues them instead, fairly and without sleeping.
        self._sqlite_lock: asyncio.Lock | None = None
        self._sqlite_engine: Engine | None = None
        self._sqlite_writer: SQLiteWriter | None = None
        if self.dialect == "sqlite":
            self._sqlite_lock = asyncio.Lock()
            # aiosqlite hops to its thread for every cursor call (four or five per statement); hot
            # transactions instead run whole, group-committed, on one thread of our own with the plain
            # sqlite3 driver (db/sqlite_writer.py). See `transaction`.
            url = make_url(database_url).set(drivername="sqlite")
            # The writer's connection and the readers' (`read`), kept open: a new SQLite connection
            # pays its pragmas and starts with a cold page cache, and the default pool of five would
            # close the overflow after each lookup when more threads read at once.
            self._sqlite_engine = sa_create_engine(
                url,
                connect_args={"timeout": 30, "check_same_thread": False},
                hide_parameters=True,
                pool_size=SQLITE_CONNECTIONS,
                max_overflow=0,
                pool_timeout=30,
            )
            _configure_sqlite(self._sqlite_engine)
            self._sqlite_writer = SQLiteWriter(self._sqlite_engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error.
        Errors that mean the database is down are raised as `DatabaseUnavailable`."""
        try:
            if self._sqlite_lock is None:
                async with self.sessions() as session, session.begin():
                    yield session
            else:
                async with self._sqlite_lock, self.sessions() as session, session.begin():
                    yield session
        except Exception as exc:
            if is_unavailable_error(exc) and not isinstance(exc, DatabaseUnavailable):
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only. On SQLite it neither waits for nor holds the write lock."""
        try:
            async with self.sessions() as session:
                if self._sqlite_lock is not None:
                    await session.connection(execution_options={READ_ONLY: True})
                yield session
                await session.rollback()
        except Exception as exc:
            if is_unavailable_error(exc) and not isinstance(exc, DatabaseUnavailable):
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` — synchronous SQLAlchemy Core — in one transaction, committed when it
        returns. On SQLite it runs whole on the writer thread; on PostgreSQL on the event loop through
        the async driver. For hot paths whose statements are known up front (intake, the outbox).

        `work` only touches the database, so on PostgreSQL a transaction chosen as a deadlock victim
        (two transactions locking the same outbox rows in different orders, say) is simply run again."""
        try:
            if self._sqlite_engine is None:
                for attempt in range(1, DEADLOCK_RETRIES + 1):
                    try:
                        async with self.engine.begin() as conn:
                            return await conn.run_sync(work)
                    except DBAPIError as exc:
                        if attempt == DEADLOCK_RETRIES or not is_retryable_conflict(exc):
                            raise
                        await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
            assert self._sqlite_writer is not None
            return cast(T, await self._sqlite_writer.run(work))
        except Exception as exc:
            if is_unavailable_error(exc) and not isinstance(exc, DatabaseUnavailable):
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)`, which only reads, in one transaction (rolled back after it).

        On SQLite it runs in a thread on a connection of its own, beside the writer thread rather
        than in its queue: under WAL a deferred transaction reads a snapshot of what has committed
        without waiting for or holding the write lock, so lookups people make (search, typeahead,
        `similar()`) never queue behind a burst of intakes' writes, nor they behind lookups. (A
        card's own load stays in the writer's queue: measured, 15 % more cards/s there.) On
        PostgreSQL it runs on the event loop through the async driver, like `transaction`."""
        try:
            if self._sqlite_engine is None:
                async with self.engine.connect() as conn:
                    # Lookups are planned for their own values: asyncpg prepares each statement, and
                    # after five runs PostgreSQL may keep a generic plan, blind to how rare a term or
                    # how narrow a key range is. Measured at a million reports: typeahead p50 15 ms
                    # and p99 86 ms with the cached plans, 7.7 ms and 24 ms planned each time.
                    await conn.exec_driver_sql(CUSTOM_PLANS)
                    return await conn.run_sync(work)  # closed without a commit: rolled back
            return await asyncio.to_thread(self._sqlite_read, work)
        except Exception as exc:
            if is_unavailable_error(exc) and not isinstance(exc, DatabaseUnavailable):
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise

    def _sqlite_read(self, work: Callable[[Connection], T]) -> T:
        assert self._sqlite_engine is not None
        with self._sqlite_engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            with conn.begin() as transaction:
                result = work(conn)
                transaction.rollback()
            return result

    async def autocommit(self, work: Callable[[Connection], T]) -> T:
        """Run `work` whose single statement commits on its own (PostgreSQL: no BEGIN/COMMIT round
        trips). On SQLite, the same as `transaction`."""
        if self._sqlite_engine is not None:
            return await self.transaction(work)
        try:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await conn.run_sync(work)
        except Exception as exc:
            if is_unavailable_error(exc) and not isinstance(exc, DatabaseUnavailable):
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            if is_unavailable_error(exc):
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()
        if self._sqlite_writer is not None:
            self._sqlite_writer.stop()
