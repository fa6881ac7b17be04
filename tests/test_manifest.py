"""`supportbridge manifest`: the HTTP manifest at a real address, or the Socket Mode variant."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from bot import manifest
from bot.cli import main

EVENTS = "/slack/events"


def _urls(m: dict) -> list[str]:
    settings = m["settings"]
    found = [c.get("url") for c in m["features"]["slash_commands"]]
    found.append(settings["event_subscriptions"].get("request_url"))
    found.append(settings["interactivity"].get("request_url"))
    found.append(settings["interactivity"].get("message_menu_options_url"))
    return found


def test_socket_mode_variant_has_no_request_urls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--socket-mode"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["settings"]["socket_mode_enabled"] is True
    assert _urls(printed) == [None] * len(_urls(printed))
    http = manifest.load()
    # Everything else is the same app: same commands, events, scopes.
    assert [c["command"] for c in printed["features"]["slash_commands"]] == [
        c["command"] for c in http["features"]["slash_commands"]
    ]
    events = printed["settings"]["event_subscriptions"]["bot_events"]
    assert events == http["settings"]["event_subscriptions"]["bot_events"]
    assert printed["oauth_config"] == http["oauth_config"]
    assert printed["settings"]["interactivity"]["is_enabled"] is True


def test_url_variant_points_every_request_url_at_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--url", "https://bots.acme.io/support/"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert set(_urls(printed)) == {"https://bots.acme.io/support" + EVENTS}
    assert printed["settings"]["socket_mode_enabled"] is False


def test_plain_manifest_is_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == manifest.load()


@pytest.mark.parametrize("url", ["http://bots.acme.io", "bots.acme.io", "https://"])
def test_a_url_slack_cannot_use_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--url", url]) == 2
    assert "https://" in capsys.readouterr().err


def test_the_manifest_is_package_data_read_through_importlib_resources() -> None:
    # Inside the `bot` package, so that the wheel carries it (pyproject.toml package-data) and an
    # installed bot finds it without a source tree (tests/test_container.py runs it from the wheel).
    packaged = resources.files("bot").joinpath("manifest.yml")
    assert packaged.is_file()
    assert manifest.load() == yaml.safe_load(packaged.read_text(encoding="utf-8"))
    assert manifest.load()["settings"]["event_subscriptions"]["request_url"].startswith(manifest.PLACEHOLDER)
