"""Which mode `supportbridge serve` picks (run as a user runs it), and the workspace a sandbox gets."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from bot.config import parse_config
from bot.mode import Mode, choose_mode
from bot.settings import Settings
from sandbox.fakes.contracts import (
    JIRA_SPEC_FILE,
    SLACK_SPEC_FILE,
    contracts_dir,
    contracts_missing_reason,
    use_contracts,
)
from sandbox.stack import Sandbox, sandbox_config
from sandbox.workspace import YOU, SandboxSlack, seed_workspace
from tests.conftest import BOT_TOKEN, CONTRACTS, SIGNING_SECRET, make_config_data
from tests.test_cli import ROOT, free_port, run_cli


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_no_slack_credentials_means_sandbox_and_any_means_slack() -> None:
    assert choose_mode(settings()) is Mode.SANDBOX
    assert choose_mode(settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET)) is Mode.SLACK
    assert choose_mode(settings(slack_bot_token=BOT_TOKEN)) is Mode.SLACK
    assert choose_mode(settings(slack_signing_secret=SIGNING_SECRET)) is Mode.SLACK
    assert choose_mode(settings(slack_bot_token="  ", slack_signing_secret="")) is Mode.SANDBOX


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET is missing"),
        ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN is missing"),
    ],
)
async def test_half_the_credentials_is_still_the_start_up_error_not_the_sandbox(
    tmp_path: Path, variable: str, message: str
) -> None:
    code, out = await run_cli("serve", env={variable: "x" * 24, "LOG_FORMAT": "text"})
    assert code == 2, out
    assert message in out
    assert "SANDBOX" not in out
    assert not (tmp_path / "supportbridge-sandbox.db").exists()


async def test_serve_without_credentials_starts_the_sandbox_with_its_own_database(tmp_path: Path) -> None:
    port = free_port()
    # An earlier sandbox's database is not reused: its cards are gone with that run's fake Slack.
    (tmp_path / "supportbridge-sandbox.db").write_bytes(b"left over from an earlier run")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--port",
        str(port),
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LOG_FORMAT": "text"},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    page = await http.get(f"http://127.0.0.1:{port}/")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the sandbox did not start")
            text = await page.text()
            assert page.status == 200 and "SANDBOX MODE" in text
            token = re.search(r'<meta name="sandbox-token" content="([^"]+)">', text)
            assert token is not None
            api = f"http://127.0.0.1:{port}/sandbox/api/state"
            assert (await http.get(api)).status == 403  # only the page that was given the token
            state = await (await http.get(api, headers={"X-Sandbox-Token": token.group(1)})).json()
            assert state["mode"] == "sandbox"
            assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status == 200
    finally:
        process.terminate()
        out, _ = await asyncio.wait_for(process.communicate(), 20)
    log = out.decode()
    assert "running in SANDBOX mode" in log
    assert f"Open http://127.0.0.1:{port}/ in a browser" in log
    assert (tmp_path / "supportbridge-sandbox.db").exists()  # migrated at start, apart from real data
    assert not (tmp_path / "supportbridge.db").exists()
    assert "xoxb-sandbox" not in log and "whsec_" not in log  # generated secrets are never printed


def test_the_bundled_workspace_names_channels_people_and_groups_the_fake_has() -> None:
    config = sandbox_config(settings())
    slack = SandboxSlack("xoxb-test", check_contract=False)
    seed_workspace(slack, config)
    named = [config.channels.default, *(r.channel for r in config.routes)]
    named += [p.channel for p in config.shadowing.programmes]
    assert all(channel in slack.channels for channel in named)
    assert config.admins == [YOU.user_id] and YOU.user_id in slack.users
    assert config.sla.on_duty_group in slack.usergroups
    assert config.shadowing.fairness is not None
    assert YOU.user_id in slack.usergroups[config.shadowing.fairness.group[0]]


def test_a_configuration_of_ones_own_seeds_the_ids_it_names(tmp_path: Path) -> None:
    data = make_config_data(admins=["U0ADMIN0001", "S0ADMINS001"])
    import yaml

    path = tmp_path / "mine.yml"
    path.write_text(yaml.safe_dump(data))
    config = sandbox_config(settings(supportbridge_config=path))
    assert config == parse_config(data).model_copy(update={"email": None})
    slack = SandboxSlack("xoxb-test", check_contract=False)
    seed_workspace(slack, config)
    assert slack.channels[config.channels.default].name == "customer-issues"
    assert "U0ADMIN0001" in slack.users and "S0ADMINS001" in slack.usergroups


def test_sandbox_settings_replace_every_outside_service() -> None:
    base = settings(
        jira_url="https://real.atlassian.net",
        jira_email="me@example.com",
        jira_api_token=SecretStr("real-token"),
        database_url="postgresql+asyncpg://prod/db",
        imap_password=SecretStr("real-password"),
        smtp_url=SecretStr("smtps://bot:real-password@smtp.example.com"),
        support_email_from="support@example.com",
        intercom_access_token=SecretStr("real-intercom-token"),
        zendesk_subdomain="acme",
        zendesk_email="agent@example.com",
        zendesk_api_token=SecretStr("real-zendesk-token"),
    )

    async def started() -> Settings:
        from sandbox.stack import Sandbox

        sandbox = await Sandbox.start(
            base, sandbox_config(base), database_url="sqlite+aiosqlite:///unused.db"
        )
        try:
            return sandbox.settings
        finally:
            await sandbox.close()

    made = asyncio.run(started())
    assert made.jira_url is not None and made.jira_url.startswith("http://127.0.0.1:")
    assert made.slack_api_url.startswith("http://127.0.0.1:")
    assert made.database_url == "sqlite+aiosqlite:///unused.db"
    assert made.imap_password is None
    # Replies go to the sandbox's own fakes on loopback (tests/test_sandbox_customers.py), never out.
    assert made.smtp_url is not None and made.smtp_url.get_secret_value().startswith("smtp://127.0.0.1:")
    assert made.intercom_api_url.startswith("http://127.0.0.1:") and made.zendesk_subdomain is None
    assert made.zendesk_api_url is not None and made.zendesk_api_url.startswith("http://127.0.0.1:")
    assert made.intercom_access_token is not None and made.zendesk_api_token is not None
    tokens = made.intercom_access_token.get_secret_value() + made.zendesk_api_token.get_secret_value()
    assert "real" not in tokens
    assert made.host == "127.0.0.1"
    assert made.intake_secret is not None and made.intake_secret.get_secret_value().startswith("whsec_")


# --------------------------------------------------------------------------- the contracts folder


@pytest.fixture
def contracts_restored() -> Iterator[None]:
    yield
    use_contracts(CONTRACTS)


def start_sandbox(base: Settings) -> Sandbox:
    async def started() -> Sandbox:
        sandbox = await Sandbox.start(
            base, sandbox_config(base), database_url="sqlite+aiosqlite:///unused.db"
        )
        await sandbox.close()
        return sandbox

    return asyncio.run(started())


def test_the_contracts_folder_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SUPPORTBRIDGE_CONTRACTS")
    assert settings().supportbridge_contracts == Path("../shared/contracts")
    monkeypatch.setenv("SUPPORTBRIDGE_CONTRACTS", str(tmp_path / "specs"))
    assert settings().supportbridge_contracts == tmp_path / "specs"


def test_the_sandbox_checks_against_the_contracts_folder_it_is_given(
    tmp_path: Path, contracts_restored: None
) -> None:
    if contracts_dir() is None:
        pytest.skip(contracts_missing_reason())
    elsewhere = tmp_path / "elsewhere"
    for relative in (SLACK_SPEC_FILE, JIRA_SPEC_FILE):
        (elsewhere / relative).parent.mkdir(parents=True)
        (elsewhere / relative).symlink_to(CONTRACTS / relative)
    sandbox = start_sandbox(settings(supportbridge_contracts=elsewhere))
    assert sandbox.contracts_checked
    assert contracts_dir() == elsewhere.resolve()


def test_a_missing_contracts_folder_is_logged_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, contracts_restored: None
) -> None:
    nowhere = tmp_path / "nowhere"
    with caplog.at_level(logging.WARNING, logger="sandbox.fakes.contracts"):
        sandbox = start_sandbox(settings(supportbridge_contracts=nowhere))
    assert not sandbox.contracts_checked and contracts_dir() is None
    [record] = [r for r in caplog.records if r.name == "sandbox.fakes.contracts"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"API contracts not found in {nowhere}: the fake Slack and Jira cannot check requests against "
        "them (set SUPPORTBRIDGE_CONTRACTS to the folder holding slack/ and jira/)"
    )


# --------------------------------------------------------------------------- an optional part

# A production install without the `sandbox` extra: openapi-core is not there.
WITHOUT_SANDBOX_EXTRA = "import sys; sys.modules['openapi_core'] = None\n"


async def run_python(code: str, tmp_path: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WITHOUT_SANDBOX_EXTRA + code,
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LOG_FORMAT": "text"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), out.decode()


async def test_the_product_runs_without_the_sandbox(tmp_path: Path) -> None:
    code, out = await run_python(
        "from bot.app import create_web_app\n"
        "from bot.cli import build_parser, cmd_serve\n"
        "from bot.mode import choose_mode\n"
        "loaded = sorted(m for m in sys.modules if m == 'sandbox' or m.startswith('sandbox.'))\n"
        "print('sandbox modules:', loaded)\n",
        tmp_path,
    )
    assert (code, out.strip()) == (0, "sandbox modules: []")


async def test_sandbox_mode_without_the_sandbox_extra_says_how_to_install_it(tmp_path: Path) -> None:
    code, out = await run_python("from bot.cli import main\nsys.exit(main(['serve']))\n", tmp_path)
    assert code == 2, out
    assert out.strip() == (
        "supportbridge: sandbox mode needs the sandbox's dependencies (openapi_core is not installed): "
        "pip install 'supportbridge[sandbox]' (`make run` does), or set SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET to run against real Slack"
    )
