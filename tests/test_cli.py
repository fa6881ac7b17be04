"""The command line, run as a user runs it: a separate process with settings in its environment."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, make_config_data
from tests.harness import add_channels

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


def write_config(path: Path, **overrides: object) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(make_config_data(**overrides)))
    return path


async def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    return int(process.returncode or 0), out.decode()


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "SUPPORTBRIDGE_CONFIG": str(write_config(tmp_path / "supportbridge.yml")),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "LOG_FORMAT": "text",
    }


async def test_migrate_then_check_passes_with_working_slack_and_jira(
    slack: FakeSlack, base_env: dict[str, str]
) -> None:
    code, out = await run_cli("migrate", env=base_env)
    assert code == 0, out
    ids = add_channels(slack)
    routes = [
        {"match": {"severity": "urgent"}, "channel": ids["urgent"]},
        {"match": {"product_area": ["billing", "invoices"]}, "channel": ids["billing"]},
    ]
    config = write_config(
        Path(base_env["SUPPORTBRIDGE_CONFIG"]), channels={"default": ids["default"]}, routes=routes
    )
    async with FakeJira() as jira:
        env = {
            **base_env,
            "SUPPORTBRIDGE_CONFIG": str(config),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            "JIRA_URL": jira.url,
            "JIRA_EMAIL": jira.email,
            "JIRA_API_TOKEN": jira.api_token,
            "INTAKE_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        }
        code, out = await run_cli("check", env=env)
        jira.assert_no_violations()
    assert code == 0, out
    assert (
        "✓ ok slack.auth: Slack token works" in out
        and "✓ ok jira: Jira reachable" in out
        and "✓ ok database: database schema is current" in out
    )
    assert "! warning secret: ZENDESK_WEBHOOK_SECRET is not set" in out
    assert "! warning jira.webhook: JIRA_WEBHOOK_SECRET is not set" in out
    assert BOT_TOKEN not in out


async def test_check_reports_every_problem_and_exits_1(slack: FakeSlack, base_env: dict[str, str]) -> None:
    async with FakeJira() as jira:
        env = {
            **base_env,
            "SLACK_BOT_TOKEN": "xoxb-revoked",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            "JIRA_URL": jira.url,
            "JIRA_EMAIL": jira.email,
            "JIRA_API_TOKEN": "wrong-token",
        }
        code, out = await run_cli("check", env=env)
    assert code == 1
    assert "✗ error slack.auth: Slack auth.test failed: invalid_auth" in out
    assert "✗ error jira: Jira serverInfo failed: Jira answered HTTP 401" in out
    migrations = len(list((ROOT / "db" / "migrations" / "versions").glob("[0-9]*.py")))
    assert (  # a new database: none applied
        f"✗ error database: database schema is {migrations} migration(s) behind"
        " → fix: run `supportbridge migrate`"
    ) in out
    assert "xoxb-revoked" not in out and "wrong-token" not in out


async def test_check_names_the_bad_configuration_key(base_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **base_env,
        "SUPPORTBRIDGE_CONFIG": str(write_config(tmp_path / "bad.yml", channels={"default": "general"})),
    }
    code, out = await run_cli("check", env=env)
    assert code == 1
    assert "✗ error config: " in out and "channels.default: 'general' is not a Slack channel ID" in out


async def test_serve_refuses_to_start_without_the_signing_secret(base_env: dict[str, str]) -> None:
    code, out = await run_cli("serve", env={**base_env, "SLACK_BOT_TOKEN": BOT_TOKEN})
    assert code == 2
    assert "SLACK_SIGNING_SECRET is missing" in out


async def test_serve_refuses_an_invalid_configuration(base_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **base_env,
        "SUPPORTBRIDGE_CONFIG": str(write_config(tmp_path / "bad.yml", timezone="Nowhere/Land")),
    }
    code, out = await run_cli("serve", env=env)
    assert code == 2
    assert out.strip().splitlines()[-1].startswith("supportbridge: ")
    assert "timezone: unknown time zone 'Nowhere/Land'" in out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_serve_starts_migrates_sqlite_and_answers_health(
    slack: FakeSlack, base_env: dict[str, str]
) -> None:
    port = free_port()
    env = {
        **base_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                try:
                    ready = await http.get(f"http://127.0.0.1:{port}/readyz")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("server did not start")
            assert ready.status == 200, await ready.text()
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status == 200
    finally:
        process.terminate()
        out, _ = await asyncio.wait_for(process.communicate(), 15)
    log = out.decode()
    assert '"message": "serving"' in log or "serving" in log
    assert BOT_TOKEN not in log and SIGNING_SECRET not in log


async def test_digest_print_in_a_terminal(base_env: dict[str, str]) -> None:
    """`supportbridge digest --print [--days N]`: the digest as text, from the database of the settings."""
    from bot.config import parse_config
    from bot.domain.intake import IntakeRequest
    from bot.services.intake import ingest_issue
    from db.session import Database

    code, out = await run_cli("digest", "--print", env=base_env)
    assert code == 1 and "supportbridge migrate" in out  # no schema yet: says what to do
    assert (await run_cli("migrate", env=base_env))[0] == 0
    database = Database(base_env["DATABASE_URL"])
    config = parse_config(make_config_data())
    for n, person in enumerate(("ann", "bob", "ann")):
        request = IntakeRequest.model_validate(
            {
                "external_id": f"t-{n}",
                "source": "webform",
                "subject": "Invoice PDF is blank",
                "body": "Blank page.",
                "customer": {"id": person, "email": f"{person}@example.test"},
                "product_area": "billing",
            }
        )
        await ingest_issue(database, config, request)
    await database.dispose()

    code, out = await run_cli("digest", "--print", "--days", "30", env=base_env)
    assert code == 0, out
    assert out.startswith("30-day digest")
    assert "New issues:           3 (none before)" in out
    assert "billing: 3 (new)" in out
    code, out = await run_cli("digest", "--print", "--days", "0", env=base_env)
    assert code == 2 and "the window is 1 to 365 days" in out
    code, out = await run_cli("digest", env=base_env)
    assert code == 2 and "--print" in out
