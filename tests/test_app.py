"""The app factory: Bolt is built from the settings alone, whatever the process environment holds."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from bot.app import build_bolt_app, build_runtime
from db.session import Database
from tests.conftest import BOT_TOKEN


async def test_bolt_takes_no_oauth_flow_or_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, make_settings: Any, make_config: Any
) -> None:
    # What a machine with another Slack app's credentials exported would hold.
    monkeypatch.setenv("SLACK_CLIENT_ID", "1111.2222")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "client-secret-of-another-app")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-from-the-environment")
    database = Database("sqlite+aiosqlite:///unused.db")
    runtime = build_runtime(make_settings(), make_config(), database)
    try:
        with caplog.at_level(logging.DEBUG):
            bolt = build_bolt_app(runtime)
    finally:
        await database.dispose()

    assert bolt.oauth_flow is None
    assert bolt.installation_store is None
    assert bolt.client.token == BOT_TOKEN
    assert bolt.client is runtime.slack.client  # type: ignore[union-attr]
    bolt_records = [r for r in caplog.records if r.name.startswith("slack_bolt")]
    assert not [r.getMessage() for r in bolt_records if r.levelno >= logging.INFO]
    # The environment is left as it was found.
    assert os.environ["SLACK_CLIENT_ID"] == "1111.2222"
    assert os.environ["SLACK_BOT_TOKEN"] == "xoxb-from-the-environment"
    assert os.environ["SLACK_SIGNING_SECRET"] == "signing-secret-from-the-environment"
