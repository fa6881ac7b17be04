"""Hostile customer text is stored safely on both databases: control characters, NUL and bidi
overrides removed, one-line fields kept on one line, impossible dates taken as "now", over-long
identities stored by their digest — and what cannot be stored is refused by validation (a 400 at
the door), never a database error (a 500)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.domain.intake import IntakeRequest, clean_line, clean_text
from bot.domain.numbers import parse_number
from bot.ids import Action
from bot.services.intake import ingest_issue
from db.models import Customer, Issue
from db.session import Database
from tests.harness import Stack, click, make_issue_payload
from tests.test_intake_service import make_request

HOSTILE = "a\x00b\x07c\u202ed\u2066e\ufefff\x9bg\r\nh"


def test_unsafe_characters_are_removed_and_line_breaks_kept_only_where_they_belong() -> None:
    assert clean_text(HOSTILE) == "abcdefg\nh"
    assert clean_line(HOSTILE) == "abcdefg h"
    assert clean_text("tab\tand\nnewline stay; é, 中文 and emoji 🎉 too") == (
        "tab\tand\nnewline stay; é, 中文 and emoji 🎉 too"
    )


async def test_hostile_text_in_every_field_is_stored_cleaned(database: Database, make_config: Any) -> None:
    request = make_request(
        external_id=f"T-{HOSTILE}",
        source=f"web{HOSTILE}",
        subject=f"Subject {HOSTILE}",
        body=f"Body {HOSTILE}",
        product_area=f"area {HOSTILE}",
        tags=[f"tag{HOSTILE}"],
        customer={
            "id": f"id{HOSTILE}",
            "name": f"Name {HOSTILE}",
            "email": f"x{HOSTILE}@acme.test",
            "company": f"Co {HOSTILE}",
            "plan": f"Plan {HOSTILE}",
        },
    )
    result = await ingest_issue(database, make_config(), request)
    async with database.session() as session:
        issue = await session.get(Issue, result.issue_id)
        assert issue is not None
        customer = await session.get(Customer, issue.customer_id)
        assert customer is not None
        stored = [issue.external_id, issue.source, issue.subject, issue.body, issue.product_area]
        stored += [customer.name, customer.email, customer.company, customer.plan, customer.external_id]
    assert stored == [
        "T-abcdefg h",
        "webabcdefg h",
        "Subject abcdefg h",
        "Body abcdefg\nh",
        "area abcdefg h",
        "Name abcdefg h",
        "xabcdefg h@acme.test",
        "Co abcdefg h",
        "Plan abcdefg h",
        "idabcdefg h",
    ]
    assert request.tags == ["tagabcdefg h"]


async def test_a_long_customer_id_with_a_long_source_and_no_email_is_stored_and_recognised(
    database: Database, make_config: Any
) -> None:
    def long(external_id: str) -> IntakeRequest:
        return make_request(
            external_id=external_id, source="s" * 64, customer={"id": "c" * 255, "name": "Long"}
        )

    first = await ingest_issue(database, make_config(), long("T-1"))
    second = await ingest_issue(database, make_config(), long("T-2"))
    async with database.session() as session:
        keys = list(await session.scalars(select(Customer.identity_key)))
        issues = list(await session.scalars(select(Issue.customer_id).order_by(Issue.id)))
    assert first.created and second.created
    assert len(keys) == 1 and len(keys[0]) <= 320 and keys[0].startswith("s" * 64 + ":sha256:")
    assert issues[0] == issues[1]  # the same customer twice: counted once


@pytest.mark.parametrize(
    "created_at", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00-12:00", "1900-01-01T00:00:00Z"]
)
async def test_an_impossible_report_date_is_taken_as_now(
    database: Database, make_config: Any, created_at: str
) -> None:
    request = make_request(created_at=created_at)
    assert request.created_at is None
    result = await ingest_issue(database, make_config(), request)
    async with database.session() as session:
        issue = await session.get(Issue, result.issue_id)
    assert issue is not None and abs((datetime.now(UTC) - issue.reported_at).total_seconds()) < 60


@pytest.mark.parametrize(
    "overrides",
    [
        {"origin_channel": "C" * 33},
        {"origin_ts": "1" * 40},
        {"customer": {"id": "x", "slack_user_id": "U" * 40}},
        {"customer": {"id": "x" * 256}},
        {"external_id": "T" * 256},
        {"source": "s" * 65},
    ],
)
def test_a_value_longer_than_its_column_is_refused_by_validation(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_request(**overrides)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("42", 42),
        ("#42", 42),
        (" #7 ", 7),
        ("²", None),
        ("١٢", None),
        ("12345678901234567890", None),
        ("", None),
    ],
)
def test_numbers_typed_by_people_are_read_safely(text: str, number: int | None) -> None:
    assert parse_number(text) == number


async def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.ping()
    finally:
        await database.dispose()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


SLACK_HOSTILE = "<!channel> <@U0BOSS0001> <https://evil.example|click to verify> &"
UNESCAPED = ("<!channel>", "<@U0BOSS0001>", "<https://evil.example")


def mrkdwn_texts(value: Any) -> list[str]:
    """Every piece of a message Slack reads as mrkdwn (plain_text shows `<!channel>` as typed)."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            found.append(value["text"])
        for inner in value.values():
            found += mrkdwn_texts(inner)
    elif isinstance(value, list):
        for inner in value:
            found += mrkdwn_texts(inner)
    return found


def assert_shown_as_typed(message: dict[str, Any]) -> None:
    texts = [str(message.get("text") or ""), *mrkdwn_texts(message.get("blocks"))]
    for text in texts:
        for raw in UNESCAPED:
            assert raw not in text, text
    assert any("&lt;!channel&gt;" in text for text in texts)


async def test_hostile_text_in_every_field_of_an_intake_reaches_slack_escaped(stack: Stack) -> None:
    def hostile(n: int) -> dict[str, Any]:
        return make_issue_payload(
            external_id=f"H-{n}",
            source=f"{SLACK_HOSTILE} {n}"[:64],
            subject=f"Export broken {SLACK_HOSTILE}",
            body=SLACK_HOSTILE,
            product_area=SLACK_HOSTILE,
            tags=[SLACK_HOSTILE[:60]],
            customer={
                "id": f"c{n}",
                "name": SLACK_HOSTILE,
                "email": f"c{n}@acme.test",
                "company": SLACK_HOSTILE,
                "plan": SLACK_HOSTILE,
            },
        )

    first = (await (await stack.webhook(hostile(1))).json())["id"]
    second = (await (await stack.webhook(hostile(2))).json())["id"]
    channel = stack.channels["default"]
    cards = await stack.wait_for_cards(channel, 2)
    for card in cards:
        assert_shown_as_typed(card)
    # Merged: the problem's card lists both sources ("via …"), its thread the customers to tell.
    await click(stack, cards[1], Action.MERGE_INTO, "U0AGENT0001", selected_option={"value": str(first)})
    primary = next(c for c in cards if str(first) in c["text"])
    await stack.slack.wait_for(
        lambda: "2 customers" in json.dumps(stack.slack.message(channel, primary["ts"])["blocks"]),
        message="merged",
    )
    assert_shown_as_typed(stack.slack.message(channel, primary["ts"]))
    for note in stack.slack.thread(channel, primary["ts"])[1:]:
        for text in [str(note.get("text") or ""), *mrkdwn_texts(note.get("blocks"))]:
            assert not any(raw in text for raw in UNESCAPED), text
    assert second != first
    stack.slack.assert_no_violations()


async def test_sql_errors_never_carry_the_customer_text_they_were_given(database: Database) -> None:
    secret = "Dana's card number is 4111 1111 1111 1111"

    def fail(conn: Any) -> None:
        from sqlalchemy import text

        conn.execute(text("INSERT INTO no_such_table (body) VALUES (:body)"), {"body": secret})

    with pytest.raises(Exception) as failed:
        await database.transaction(fail)
    shown = f"{failed.value!s} {failed.value!r} {failed.value.__cause__!s}"
    assert "no_such_table" in shown and "4111" not in shown and "Dana" not in shown
