"""`supportbridge check` run as a user runs it (a separate process, settings in its environment)
against the fake Slack and the fake Jira on loopback: every configured channel, user group, scope,
Jira project, issue type and priority is looked up, each finding is one line with its fix, `--json`
prints the same findings as one JSON list, and the exit status is 1 when any is an error."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from bot.checks.slack import PLACEHOLDER_IDS
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from tests.conftest import BOT_TOKEN, INTAKE_SECRET, INTERCOM_SECRET, SIGNING_SECRET, ZENDESK_SECRET
from tests.test_cli import ROOT, run_cli, write_config

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

MISSING_CHANNEL = "C0MISSING01"
MISSING_GROUP = "S0MISSING1"


@pytest.fixture
def database_file(tmp_path: Path, sqlite_template: Path) -> str:
    shutil.copy(sqlite_template, tmp_path / "check.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"


def check_env(config: Path, database: str, slack_url: str, jira: FakeJira) -> dict[str, str]:
    return {
        "SUPPORTBRIDGE_CONFIG": str(config),
        "DATABASE_URL": database,
        "LOG_FORMAT": "text",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "JIRA_URL": jira.url,
        "JIRA_EMAIL": jira.email,
        "JIRA_API_TOKEN": jira.api_token,
        "JIRA_WEBHOOK_SECRET": "jira-webhook-secret-0123456789",
        "INTAKE_SECRET": INTAKE_SECRET,
        "ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
        "INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
    }


def good_workspace(slack: FakeSlack) -> dict[str, Any]:
    """A configuration whose every id exists in the fake workspace, the bot in every channel."""
    default = slack.add_channel("customer-issues")
    urgent = slack.add_channel("urgent-issues", is_private=True)
    digest = slack.add_channel("product-digest")
    ana = slack.add_user("ana", real_name="Ana Lima")
    on_duty = slack.add_usergroup([ana])
    return {
        "channels": {"default": default, "digest": digest},
        "routes": [
            {"match": {"severity": "urgent"}, "channel": urgent, "owners": [on_duty], "jira_project": "PROJ"}
        ],
        "sla": {"on_duty_group": on_duty},
        "admins": [ana],
        "jira": {"project": "PROJ", "issue_type": "Bug"},
    }


async def test_a_good_configuration_passes_and_exits_0(
    slack: FakeSlack, tmp_path: Path, database_file: str
) -> None:
    config = write_config(tmp_path / "good.yml", **good_workspace(slack))
    async with FakeJira() as jira:
        code, out = await run_cli("check", env=check_env(config, database_file, slack.url, jira))
        jira.assert_no_violations()
    assert code == 0, out
    lines = out.splitlines()
    assert [line for line in lines if not line.startswith("✓ ok ")] == [
        "! warning mailbox: no email section in the configuration: the support mailbox is not read"
    ], out
    assert "✓ ok slack.scopes: the token has every scope the manifest asks for (13)" in lines
    assert any(line.startswith("✓ ok slack.channel: channel #customer-issues (C") for line in lines)
    assert any(
        re.fullmatch(
            r"✓ ok slack.usergroup: user group @\S+ \(S\w+, routes\[0\].owners, sla.on_duty_group\) exists",
            line,
        )
        for line in lines
    ), out
    assert any(
        re.fullmatch(r"✓ ok slack.user: user Ana Lima \(U\w+, admins\) exists", line) for line in lines
    )
    assert "✓ ok jira.project: Jira project PROJ (Proj Project) exists" in lines
    assert "✓ ok jira.issue_type: issue type Bug exists in PROJ" in lines
    assert (
        "✓ ok jira.priority: every priority in jira.priority_map exists in Jira (Highest, High, Medium, Low)"
        in lines
    )
    assert "✓ ok config.placeholder: no placeholder ids from supportbridge.example.yml left" in lines
    assert slack.calls_to("conversations.join") == []  # check looks, it changes nothing


async def test_every_problem_is_one_line_with_its_fix_and_exits_1(
    slack: FakeSlack, tmp_path: Path, database_file: str
) -> None:
    data = good_workspace(slack)
    outsider = slack.add_channel("releases", members_bot=False)
    data["channels"] |= {"alerts": "C0123456789", "releases": outsider}
    data["routes"].append({"match": {"product_area": "billing"}, "channel": MISSING_CHANNEL})
    data["routes"][0]["jira_project"] = "NOPE"
    disabled = slack.add_usergroup([])
    slack.disabled_usergroups.add(disabled)
    gone = slack.add_user("former.colleague", deleted=True)
    data["admins"] = [MISSING_GROUP, disabled, "U0MISSING1", gone]
    data["jira"] = {"project": "PROJ", "issue_type": "Bugg", "priority_map": {"urgent": "Critical"}}
    slack.scopes.discard("files:write")
    config = write_config(tmp_path / "bad.yml", **data)
    async with FakeJira() as jira:
        env = check_env(config, database_file, slack.url, jira)
        code, out = await run_cli("check", env=env)
        json_code, json_out = await run_cli("check", "--json", env=env)
        jira.assert_no_violations()
    assert code == 1, out
    lines = out.splitlines()
    expected = [
        "✗ error config.placeholder: channel C0123456789 (channels.alerts) is still the example's"
        " placeholder → fix: put your workspace's channel id in channels.alerts (in Slack: its details"
        " → the ID at the bottom)",
        "✗ error slack.scopes: the token lacks scope(s) the manifest asks for: files:write"
        " → fix: add files:write to the app's bot scopes (OAuth & Permissions) and reinstall the app",
        f"! warning slack.channel: the bot is not in #releases ({outsider}, channels.releases) yet:"
        " it joins this public channel on its own at its first post → fix: nothing needed"
        " (/invite @Supportbridge in the channel to have it there now)",
        f"✗ error slack.channel: channel {MISSING_CHANNEL} (routes[1].channel) not found → fix: invite"
        " the bot if it is private (/invite @Supportbridge in the channel), or fix routes[1].channel",
        f"✗ error slack.usergroup: user group {MISSING_GROUP} (admins) not found → fix: fix admins"
        " (in Slack: People → User groups → the group → its ID)",
        f"✗ error slack.usergroup: user group @group-{disabled[-4:]} ({disabled}, admins) is disabled"
        " → fix: enable it in Slack or fix admins",
        "✗ error slack.user: user U0MISSING1 (admins) not found → fix: fix admins (in Slack: the"
        " person's profile → ⋮ → Copy member ID)",
        f"✗ error slack.user: user Former Colleague ({gone}, admins) is deactivated → fix: remove them"
        " from admins",
        "✗ error jira.project: Jira project NOPE (routes[0].jira_project) not found → fix: fix"
        " routes[0].jira_project (the key is in the project's URL), or give the JIRA_EMAIL user access to it",
        "✗ error jira.issue_type: issue type 'Bugg' (jira.issue_type) does not exist in project PROJ"
        " → fix: set jira.issue_type to one of: Task, Bug, Story",
        "✗ error jira.priority: priority 'Critical' (jira.priority_map.urgent) is not a priority Jira has"
        " → fix: set jira.priority_map.urgent to one of: Highest, High, Medium, Low, Lowest",
    ]
    for line in expected:
        assert line in lines, f"{line}\n---\n{out}"
    # The channel the bot is in still passes among the failures.
    assert any(line.startswith("✓ ok slack.channel: channel #customer-issues") for line in lines)
    # A placeholder is reported once, not looked up in Slack as well.
    assert not any("C0123456789" in args.get("channel", "") for args in slack.calls_to("conversations.info"))
    assert BOT_TOKEN not in out

    assert json_code == 1
    findings = json.loads(json_out)  # stdout is the JSON document and nothing else
    assert isinstance(findings, list)
    assert all(set(f) == {"level", "check", "message", "fix"} for f in findings)
    assert {f["level"] for f in findings} <= {"ok", "warning", "error"}
    rendered = [
        ("✓ ok" if f["level"] == "ok" else "! warning" if f["level"] == "warning" else "✗ error")
        + f" {f['check']}: {f['message']}"
        + (f" → fix: {f['fix']}" if f["fix"] else "")
        for f in findings
    ]
    assert rendered == lines
    priority = next(f for f in findings if f["check"] == "jira.priority")
    assert priority == {
        "level": "error",
        "check": "jira.priority",
        "message": "priority 'Critical' (jira.priority_map.urgent) is not a priority Jira has",
        "fix": "set jira.priority_map.urgent to one of: Highest, High, Medium, Low, Lowest",
    }


async def test_slack_unreachable_is_an_error_and_jira_is_still_checked(
    tmp_path: Path, database_file: str
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/api/"
    config = write_config(tmp_path / "c.yml", jira={"project": "PROJ"})
    async with FakeJira() as jira:
        code, out = await run_cli("check", "--json", env=check_env(config, database_file, closed, jira))
    assert code == 1
    findings = json.loads(out)
    slack = [f for f in findings if f["check"].startswith("slack")]
    assert len(slack) == 1 and slack[0]["level"] == "error"
    assert slack[0]["message"].startswith("Slack check could not run: cannot reach Slack at SLACK_API_URL")
    assert {
        "level": "ok",
        "check": "jira.project",
        "message": "Jira project PROJ (Proj Project) exists",
        "fix": None,
    } in findings


async def test_a_missing_channel_scope_is_named_once(
    slack: FakeSlack, tmp_path: Path, database_file: str
) -> None:
    slack.scopes.discard("channels:read")
    config = write_config(tmp_path / "c.yml", **good_workspace(slack))
    async with FakeJira() as jira:
        code, out = await run_cli("check", env=check_env(config, database_file, slack.url, jira))
    assert code == 1
    assert out.count("✗ error slack.channel:") == 1
    assert (
        "✗ error slack.channel: cannot look the configured channels up: the token lacks channels:read or"
        " groups:read → fix: add channels:read and groups:read to the app's bot scopes and reinstall the app"
    ) in out.splitlines()


def test_the_placeholders_are_the_example_files_ids() -> None:
    example = (ROOT / "supportbridge.example.yml").read_text(encoding="utf-8")
    # Every Slack id in the example, commented-out lines included (someone uncomments them).
    ids = set(re.findall(r"\b[CGDSUW]0[A-Z0-9]{6,}\b", example))
    assert ids == PLACEHOLDER_IDS


async def test_a_slow_answer_is_bounded_and_the_next_channel_still_checked(
    slack: FakeSlack,
    database_file: str,
    make_settings: Any,
    make_config: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.checks import run_checks

    monkeypatch.setattr("bot.checks.slack.CALL_TIMEOUT", 0.3)
    slow, fine = slack.add_channel("slow-channel"), slack.add_channel("fine-channel")
    slack.fail("conversations.info", slow=3)  # the first lookup hangs past the bound
    config = make_config(channels={"default": slow, "digest": fine}, routes=[])
    settings = make_settings(database_url=database_file, slack_api_url=slack.url)
    results = await asyncio.wait_for(run_checks(settings, config), 20)
    assert (
        f"✗ error slack.channel: channel {slow} (channels.default) could not be checked:"
        " Slack did not answer within 0.3s"
    ) in results.lines
    assert (
        f"✓ ok slack.channel: channel #fine-channel ({fine}, channels.digest): the bot is in it"
        in results.lines
    )


async def test_names_from_slack_are_shown_without_control_characters(
    slack: FakeSlack, database_file: str, make_settings: Any, make_config: Any
) -> None:
    from bot.checks import run_checks

    hostile = slack.add_channel("evil\x1b[2J\u202echannel\n" + "x" * 200, members_bot=False)
    config = make_config(channels={"default": hostile}, routes=[])
    results = await run_checks(make_settings(database_url=database_file, slack_api_url=slack.url), config)
    line = next(line for line in results.lines if hostile in line)
    assert line.startswith("! warning slack.channel: the bot is not in #evil[2Jchannel xxx")
    assert not any(ch in line for ch in "\x1b\u202e\n")
    assert "x" * 80 not in line  # the name is cut


async def test_json_output_reports_an_invalid_configuration(tmp_path: Path, database_file: str) -> None:
    config = write_config(tmp_path / "bad.yml", channels={"default": "general"})
    env = {"SUPPORTBRIDGE_CONFIG": str(config), "DATABASE_URL": database_file, "LOG_FORMAT": "text"}
    code, out = await run_cli("check", "--json", env=env)
    assert code == 1
    first = json.loads(out)[0]
    assert (first["level"], first["check"]) == ("error", "config")
    assert "channels.default: 'general' is not a Slack channel ID" in first["message"]


async def test_csat_without_public_url_is_a_warning(
    slack: FakeSlack, database_file: str, make_settings: Any, make_config: Any
) -> None:
    from bot.checks import run_checks

    config = make_config(
        channels={"default": slack.add_channel("support")}, routes=[], csat={"enabled": True}
    )
    settings = make_settings(database_url=database_file, slack_api_url=slack.url)
    results = await run_checks(settings, config)
    assert any(
        line.startswith("! warning csat: csat.enabled is true but PUBLIC_URL") for line in results.lines
    )
    with_url = await run_checks(
        make_settings(
            database_url=database_file, slack_api_url=slack.url, public_url="https://support.example.test/"
        ),
        config,
    )
    assert not any("csat" in line for line in with_url.lines)
