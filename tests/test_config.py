"""Settings and the configuration file: valid files load, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_config, parse_config
from bot.services.routing import RouteFacts, route_issue
from bot.settings import Settings, SettingsError
from tests.conftest import make_config_data


def test_example_configuration_file_is_valid() -> None:
    config = load_config(Path(__file__).parents[1] / "supportbridge.example.yml")
    assert config.channels.default == "C0123456789"
    assert config.slack_intake.reaction == "ticket"
    assert config.jira.project == "SUP" and config.jira.is_wont_do("won't do")
    assert str(config.sla.targets["normal"]) == "1 business day"  # type: ignore[index]
    assert config.thresholds == [5, 20] and str(config.digest.schedule) == "mon 09:00"
    assert config.channels.digest == "C0123456789" and config.digest.spike.min_count == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channels": {}}, "channels.default: Field required"),
        ({"channels": {"default": "#general"}}, "channels.default: '#general' is not a Slack channel ID"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"thresholds": [5, 0]}, "thresholds: thresholds are numbers of customers, 1 or more"),
        ({"digest": {"schedule": "someday"}}, "digest.schedule: 'someday': write a weekday and a time"),
        ({"digest": {"top_problems": 50}}, "digest.top_problems: Input should be less than or equal to 20"),
        ({"digest": {"spike": {"ratio": 1}}}, "digest.spike.ratio: Input should be greater than 1"),
        ({"routes": [{"match": {}, "channel": "C0123456789"}]}, "routes[0].match: needs at least one of"),
        (
            {"routes": [{"match": {"severity": "meh"}, "channel": "C0123456789"}]},
            "routes[0].match.severity[0]",
        ),
        ({"routes": [{"match": {"source": "x"}}]}, "routes[0].channel: Field required"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"severities": ["low", "apocalyptic"]}, "severities[1]"),
        ({"jira": {"project": "my project"}}, "jira.project: 'my project' is not a Jira project key"),
        ({"jira": {"priority_map": {"critical": "Highest"}}}, "jira.priority_map.critical"),
        ({"jira": {"users": {"pm@x.test": "bob"}}}, "jira.users: pm@x.test: 'bob' is not a Slack user id"),
        ({"jira": {"max_attempts": 0}}, "jira.max_attempts"),
        ({"jira": {"colour": "red"}}, "jira.colour: unknown key"),
        (
            {"routes": [{"match": {"source": "x"}, "channel": "C0123456789", "jira_project": "x y"}]},
            "routes[0].jira_project: 'x y' is not a Jira project key",
        ),
        ({"sla": {"targets": {"urgent": "soon"}}}, "sla.targets.urgent"),
        ({"sla": {"targets": {"critical": "1h"}}}, "sla.targets: unknown severity 'critical'"),
        ({"sla": {"on_duty_group": "oncall"}}, "sla.on_duty_group"),
        ({"sla": {"business_hours": {"start": "18:00", "end": "09:00"}}}, "sla.business_hours"),
    ],
)
def test_invalid_configuration_names_the_key(change: dict[str, Any], message: str) -> None:
    data = make_config_data()
    data.update(change)
    with pytest.raises(ConfigError) as error:
        parse_config(data, origin="supportbridge.yml")
    assert str(error.value).startswith("supportbridge.yml: ")
    assert message in str(error.value)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("channels:\n  default: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(broken)
    scalar = tmp_path / "scalar.yml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(scalar)


def test_routes_first_match_wins_and_match_all_given_keys() -> None:
    config = parse_config(
        make_config_data(
            routes=[
                {"match": {"source": "zendesk", "tag": ["enterprise", "vip"]}, "channel": "C0000000001"},
                {"match": {"source": "zendesk"}, "channel": "C0000000002", "jira_project": "ZEN"},
                {"match": {"severity": ["high", "urgent"]}, "channel": "C0000000003"},
            ]
        )
    )

    def channel(**facts: Any) -> str:
        values = {"source": "webform", "product_area": None, "severity": "normal", "tags": ()}
        values.update(facts)
        return route_issue(config, RouteFacts(**values)).channel

    assert channel(source="zendesk", tags=("vip",)) == "C0000000001"
    assert channel(source="zendesk", tags=("other",)) == "C0000000002"
    assert route_issue(config, RouteFacts("zendesk", None, "normal", ())).jira_project == "ZEN"
    assert channel(severity="urgent") == "C0000000003"
    assert channel() == config.channels.default


def test_settings_come_from_the_environment_and_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nPORT=8123\n")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "from-env")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9999/api")
    settings = Settings()
    assert (
        settings.slack_bot_token is not None
        and settings.slack_bot_token.get_secret_value() == "xoxb-from-dotenv"
    )
    assert settings.port == 8123
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"
    assert "xoxb-from-dotenv" not in repr(settings)  # secrets never print


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"slack_bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET is missing"),
        ({"slack_signing_secret": "s" * 32}, "SLACK_BOT_TOKEN is missing"),
        ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}, "SLACK_SIGNING_SECRET is too short"),
        ({"jira_webhook_secret": "short"}, "JIRA_WEBHOOK_SECRET is too short"),
        ({"zendesk_webhook_secret": "0123456789"}, "ZENDESK_WEBHOOK_SECRET is too short"),
        ({"intake_secret": "plain"}, "INTAKE_SECRET must be a Standard Webhooks secret"),
        ({"jira_url": "https://x.atlassian.net", "jira_email": "a@b.c"}, "JIRA_API_TOKEN is missing"),
    ],
)
def test_unsafe_settings_stop_the_start(values: dict[str, str], message: str) -> None:
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match=message):
        settings.check_startup()


def test_no_slack_at_all_is_allowed_for_a_first_run() -> None:
    Settings(_env_file=None).check_startup()  # type: ignore[call-arg]


def test_email_section_is_validated_and_needs_its_password() -> None:
    from bot.app import check_combination

    with pytest.raises(ConfigError, match=r"email: move_to is required when processed is move"):
        parse_config(make_config_data(email={"host": "imap.test", "user": "u", "processed": "move"}))
    with pytest.raises(ConfigError, match=r"email\.security"):
        parse_config(make_config_data(email={"host": "imap.test", "user": "u", "security": "starttls"}))
    config = parse_config(make_config_data(email={"host": "imap.test", "user": "u"}))
    assert config.email is not None and config.email.effective_port == 993
    with pytest.raises(SettingsError, match="IMAP_PASSWORD is missing"):
        check_combination(Settings(_env_file=None), config)  # type: ignore[call-arg]


def _programme(**overrides: Any) -> dict[str, Any]:
    programme: dict[str, Any] = {"id": "l1", "name": "L1", "hosts": ["U0HOST0001"], "channel": "C0123456789"}
    programme.update(overrides)
    return programme


@pytest.mark.parametrize(
    ("shadowing", "message"),
    [
        (
            {"programmes": [_programme(id="L1 support")]},
            "shadowing.programmes[0].id: 'L1 support': use lower-case",
        ),
        ({"programmes": [_programme(), _programme()]}, "programme id 'l1' is used twice"),
        ({"programmes": [_programme(hosts=["bob"])]}, "'bob' is not a Slack user id"),
        ({"programmes": [_programme(hosts=[])]}, "needs at least one host"),
        ({"programmes": [_programme(channel="#support")]}, "is not a Slack channel ID"),
        (
            {"programmes": [_programme(sessions=[{"weekday": "someday", "time": "10:00"}])]},
            "'someday' is not a weekday",
        ),
        (
            {
                "programmes": [
                    _programme(sessions=[{"weekday": "mon", "time": "10:00", "duration": "1 business day"}])
                ]
            },
            "not business time",
        ),
        ({"programmes": [_programme(sessions=[{"weekday": "mon", "time": 600}])]}, "write it in quotes"),
        ({"weekly_post": "every monday"}, 'write a weekday and a time, like "mon 09:00"'),
        ({"fairness": {"group": ["U0ANA00001"], "target_hours": 0}}, "shadowing.fairness.target_hours"),
    ],
)
def test_shadowing_mistakes_name_the_key(shadowing: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(make_config_data(shadowing=shadowing))
    assert message in str(error.value)


def test_shadowing_reads_weekdays_times_and_durations_as_people_write_them() -> None:
    config = parse_config(
        make_config_data(
            admins="S0ADMINS01",
            shadowing={
                "weekly_post": "Mondays at 08:30",
                "reminders": ["2 days", "1h"],
                "programmes": [
                    _programme(sessions=[{"weekday": "Thursday", "time": "9:15", "duration": "90 minutes"}])
                ],
            },
        )
    )
    rule = config.shadowing.programmes[0].sessions[0]
    assert (rule.weekday, f"{rule.time:%H:%M}", rule.duration.total_seconds()) == ("thu", "09:15", 5400)
    assert str(config.shadowing.weekly_post) == "mon 08:30"
    assert [r.total_seconds() for r in config.shadowing.reminders] == [172800, 3600]
    assert config.admins == ["S0ADMINS01"] and config.shadowing.programme("l1") is not None
