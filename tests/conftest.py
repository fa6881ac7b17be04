"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, a clean environment, and
factories for settings and configuration.

PostgreSQL: `TEST_POSTGRES_URL` (default the local server, database `test`). A template database is
migrated once per run; each test gets its own copy (CREATE DATABASE … TEMPLATE, tens of milliseconds).
Without a server the PostgreSQL half of the suite is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.engine import make_url

from bot.config import AppConfig, parse_config
from bot.settings import Settings
from db.migrate import upgrade
from db.session import Database
from sandbox.fakes.contracts import use_contracts
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from tests.imap_server import DovecotServer

if TYPE_CHECKING:
    from tests.harness import Stack

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
# Two test runs at once on one server (two checkouts, two agents) each need their own template.
# Under pytest-xdist each worker (gw0, gw1, ...) migrates a template of its own.
PG_TEMPLATE = os.environ.get("TEST_PG_TEMPLATE", "supportbridge_test_template") + (
    f"_{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else ""
)
SETTING_NAMES = [name.upper() for name in Settings.model_fields]
# The contracts the fakes check against: SUPPORTBRIDGE_CONTRACTS as the run was started with (by default
# ../shared/contracts beside the checkout), made absolute before any test changes directory.
CONTRACTS = Settings(_env_file=None).supportbridge_contracts.resolve()  # type: ignore[call-arg]
use_contracts(CONTRACTS)

_pg_state: dict[str, Any] = {}


def _pg_admin_dsn() -> str:
    url = make_url(PG_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_exec(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn(), timeout=3)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _pg_database_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _prepare_pg_template() -> str | None:
    """Migrate the template once; returns None when ready, else why PostgreSQL tests are skipped."""
    if "skip" in _pg_state:
        return _pg_state["skip"]

    async def prepare() -> None:
        await _pg_exec(
            f"DROP DATABASE IF EXISTS {PG_TEMPLATE} WITH (FORCE)", f"CREATE DATABASE {PG_TEMPLATE}"
        )
        database = Database(_pg_database_url(PG_TEMPLATE))
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    try:
        asyncio.run(prepare())
        _pg_state["skip"] = None
    except (OSError, TimeoutError, Exception) as exc:
        _pg_state["skip"] = (
            f"PostgreSQL not available at TEST_POSTGRES_URL={PG_URL} ({type(exc).__name__}: {exc}); "
            "start it to run the PostgreSQL half of the suite"
        )
    return _pg_state["skip"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def prepare() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(prepare())
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A freshly migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "supportbridge.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A freshly migrated, empty PostgreSQL database URL, for what only a server can show."""
    with _fresh_pg_database() as url:
        yield url


@contextmanager
def _fresh_pg_database() -> Iterator[str]:
    reason = _prepare_pg_template()
    if reason:
        if os.environ.get("SUPPORTBRIDGE_REQUIRE_POSTGRES"):
            pytest.fail(reason)  # CI must test PostgreSQL, not skip it
        pytest.skip(reason)
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE}"))
    try:
        yield _pg_database_url(name)
    finally:
        asyncio.run(_pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine, and no `.env` from the working directory is read. The
    contracts folder is the one exception: a sandbox a test starts checks against the same one."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPPORTBRIDGE_CONTRACTS", str(CONTRACTS))
    monkeypatch.chdir(tmp_path)


CHANNEL_DEFAULT = "C0DEFAULT01"
CHANNEL_URGENT = "C0URGENT001"
CHANNEL_BILLING = "C0BILLING01"


def make_config_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "channels": {"default": CHANNEL_DEFAULT},
        "routes": [
            {"match": {"severity": "urgent"}, "channel": CHANNEL_URGENT},
            {"match": {"product_area": ["billing", "invoices"]}, "channel": CHANNEL_BILLING},
        ],
        "tags": ["bug", "login", "billing", "performance"],
        "slack_intake": {"reaction": "ticket"},
        # Fast retries so failure tests take milliseconds, not minutes.
        "deliveries": {"base_backoff_seconds": 0.05, "max_backoff_seconds": 0.3, "stuck_after_attempts": 3},
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_config() -> Any:
    def make(**overrides: Any) -> AppConfig:
        return parse_config(make_config_data(**overrides))

    return make


SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
INTAKE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ZENDESK_SECRET = "dGhpc19pc19hX3plbmRlc2tfc2VjcmV0"
INTERCOM_SECRET = "intercom-client-secret-123"


@pytest.fixture
def make_settings() -> Any:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "intake_secret": INTAKE_SECRET,
            "zendesk_webhook_secret": ZENDESK_SECRET,
            "intercom_client_secret": INTERCOM_SECRET,
            "database_url": "sqlite+aiosqlite:///unused.db",
            "log_format": "text",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on loopback; the test fails if the bot broke Slack's published contract.
    Modules using it mark themselves skipped when the contracts folder is absent."""
    async with FakeSlack() as fake:
        yield fake
        fake.assert_no_violations()


@pytest.fixture
async def stack(database_url: str, slack: FakeSlack) -> AsyncIterator[Stack]:
    """The real app on loopback, on each database backend, talking to the fake Slack."""
    from tests.harness import add_channels, running_app

    async with running_app(database_url, slack, add_channels(slack)) as running:
        yield running


JIRA_WEBHOOK_SECRET = "jira-webhook-secret-for-tests"


@pytest.fixture
async def jira() -> AsyncIterator[FakeJira]:
    """A fake Jira Cloud on loopback with project PROJ; the test fails on any contract violation."""
    async with FakeJira() as fake:
        yield fake
        assert not fake.violations, fake.violations


@pytest.fixture
async def jira_stack(database_url: str, slack: FakeSlack, jira: FakeJira) -> AsyncIterator[Stack]:
    """The real app talking to the fake Slack and the fake Jira, with Jira's webhook configured."""
    from tests.harness import add_channels, running_app

    settings = {
        "jira_url": jira.url,
        "jira_email": jira.email,
        "jira_api_token": jira.api_token,
        "jira_webhook_secret": JIRA_WEBHOOK_SECRET,
    }
    config = {
        "jira": {
            "project": "PROJ",
            "max_attempts": 3,
            "comment_batch_seconds": 0.3,
            "search_lag_seconds": 0.1,
            "users": {"pm@example.test": "U0PMUSER01"},
        }
    }
    async with running_app(
        database_url, slack, add_channels(slack), settings_overrides=settings, config_overrides=config
    ) as running:
        running.extra["jira"] = jira
        yield running


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[DovecotServer]:
    """A private Dovecot IMAP server on loopback with a throwaway mailbox. Modules using it mark
    themselves skipped when Dovecot is not installed (or the tests are not run as root)."""
    server = DovecotServer(tmp_path / "dovecot")
    server.start()
    try:
        yield server
    finally:
        server.stop()
