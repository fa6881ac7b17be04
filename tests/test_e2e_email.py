"""The support mailbox end to end: a real IMAP server (Dovecot, started here on loopback), the real
app reading it, cards and thread notes reaching the contract-checking fake Slack. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import metrics
from bot.config import parse_config
from bot.services.email_intake import take_email
from db.models import Issue
from db.session import Database
from integrations.email import ParsedEmail, parse_email
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from tests.conftest import make_config_data
from tests.harness import Stack, add_channels, running_app
from tests.imap_server import DovecotServer, dovecot_available

pytestmark = [
    pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason()),
    pytest.mark.skipif(dovecot_available() is not None, reason=str(dovecot_available())),
]

FIXTURES = Path(__file__).parent / "fixtures" / "email"


def email_config(imap: DovecotServer, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "host": imap.host,
        "port": imap.port,
        "security": "none",
        "user": imap.user,
        "poll_seconds": 0.5,
    }
    config.update(overrides)
    return {"email": config}


async def start(
    database_url: str,
    slack: FakeSlack,
    imap: DovecotServer,
    channels: dict[str, str] | None = None,
    **overrides: Any,
) -> Any:
    return running_app(
        database_url,
        slack,
        channels or add_channels(slack),
        settings_overrides={"imap_password": imap.password},
        config_overrides=email_config(imap, **overrides),
    )


def mail(
    subject: str = "Export to CSV is broken",
    body: str = "Hello,\n\nthe export button does nothing since Monday.\n\nThanks, Dana",
    *,
    sender: str = "Dana Smith <dana@acme-corp.test>",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@example.test"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    message_id = message_id or make_msgid(domain="acme-corp.test")
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes(), message_id


async def issues(stack: Stack) -> list[Issue]:
    async with stack.runtime.database.session() as session:
        return list(await session.scalars(select(Issue).order_by(Issue.id)))


async def wait_until(stack: Stack, predicate: Any, message: str, timeout: float = 15.0) -> Any:
    return await stack.slack.wait_for(predicate, timeout=timeout, interval=0.05, message=message)


async def test_a_new_message_becomes_a_card_and_a_reply_joins_its_thread(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    first, first_id = mail()
    imap.deliver(first)
    async with await start(database_url, slack, imap) as stack:
        channel = stack.channels["default"]
        card = (await stack.wait_for_cards(channel, 1, timeout=15))[0]
        [issue] = await issues(stack)
        assert (issue.source, issue.subject) == ("email", "Export to CSV is broken")
        assert "the export button does nothing" in issue.body
        blocks = str(card["blocks"])
        assert "Dana Smith" in blocks and "E-mail" in blocks
        await wait_until(stack, lambda: all("\\Seen" in flags for _, flags in imap.messages()), "marked seen")

        reply, _ = mail(
            "Re: Export to CSV is broken",
            "Any news?\n\nOn Mon, Dana wrote:\n> the export",
            in_reply_to=first_id,
        )
        imap.deliver(reply)
        await wait_until(stack, lambda: slack.thread(channel, card["ts"])[1:], "reply in the card's thread")
        note = slack.thread(channel, card["ts"])[-1]
        assert "Any news?" in str(note["blocks"]) and "the export" not in str(note["blocks"])
        assert len(await issues(stack)) == 1
        assert len(slack.messages(channel)) == 1


async def test_the_same_message_id_is_taken_once_even_across_restarts(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    raw, _ = mail()
    imap.deliver(raw)
    imap.deliver(raw)  # the same message twice in the mailbox (a re-delivery)
    channels = add_channels(slack)
    async with await start(database_url, slack, imap, channels) as stack:
        await stack.wait_for_cards(stack.channels["default"], 1, timeout=15)
        await wait_until(stack, lambda: all("\\Seen" in f for _, f in imap.messages()), "both marked seen")
    second, _ = mail("Login fails", "Cannot log in.", sender="ann@example.org")
    imap.deliver(second)
    async with await start(database_url, slack, imap, channels) as stack:
        await stack.wait_for_cards(stack.channels["default"], 2, timeout=15)
        await asyncio.sleep(0.5)
        assert [i.subject for i in await issues(stack)] == ["Export to CSV is broken", "Login fails"]


async def test_auto_replies_and_bounces_are_skipped_but_marked(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    ooo, _ = mail("Out of office", "I am away.", headers={"Auto-Submitted": "auto-replied"})
    bulk, _ = mail("Newsletter", "Our news.", headers={"Precedence": "bulk"})
    real, _ = mail("Real problem", "Invoices are wrong.")
    for raw in (ooo, bulk, real):
        imap.deliver(raw)
    async with await start(database_url, slack, imap) as stack:
        await stack.wait_for_cards(stack.channels["default"], 1, timeout=15)
        await wait_until(stack, lambda: all("\\Seen" in f for _, f in imap.messages()), "all marked seen")
        assert [i.subject for i in await issues(stack)] == ["Real problem"]


def email_intakes(result: str, reason: str = "") -> float:
    labels = {"source": "email", "result": result, "reason": reason}
    return metrics.REGISTRY.get_sample_value("supportbridge_intakes_total", labels) or 0.0


async def test_every_message_taken_or_skipped_is_counted_as_an_email_intake(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    kinds = [("new", ""), ("repeat", ""), ("reply", ""), ("ignored", "auto_reply"), ("ignored", "bulk")]
    before = [email_intakes(*kind) for kind in kinds]
    first, first_id = mail()
    reply, _ = mail("Re: Export to CSV is broken", "Any news?", in_reply_to=first_id)
    ooo, _ = mail("Out of office", "I am away.", headers={"Auto-Submitted": "auto-replied"})
    bulk, _ = mail("Newsletter", "Our news.", headers={"List-Id": "<news.example.test>"})
    for raw in (first, first, reply, ooo, bulk):  # the first one twice: a re-delivery
        imap.deliver(raw)
    async with await start(database_url, slack, imap) as stack:
        await wait_until(stack, lambda: all("\\Seen" in f for _, f in imap.messages()), "all marked seen")
    assert [email_intakes(*kind) - was for kind, was in zip(kinds, before, strict=True)] == [1, 1, 1, 1, 1]


async def test_the_server_going_away_is_survived(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    async with await start(database_url, slack, imap) as stack:
        first, _ = mail("First", "one")
        imap.deliver(first)
        await stack.wait_for_cards(stack.channels["default"], 1, timeout=15)
        imap.restart()  # the connection drops under the poller
        second, _ = mail("Second", "two")
        imap.deliver(second)
        await stack.wait_for_cards(stack.channels["default"], 2, timeout=20)
        await asyncio.sleep(0.5)
        assert [i.subject for i in await issues(stack)] == ["First", "Second"]


async def test_move_mode_moves_processed_messages(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    imap.create_folder("Processed")
    raw, _ = mail()
    imap.deliver(raw)
    async with await start(database_url, slack, imap, processed="move", move_to="Processed") as stack:
        await stack.wait_for_cards(stack.channels["default"], 1, timeout=15)
        await wait_until(stack, lambda: not imap.messages() and imap.messages("Processed"), "moved")


async def test_a_crash_between_commit_and_marking_does_not_double(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    raw, _ = mail()
    imap.deliver(raw)
    parsed = parse_email(raw)
    assert isinstance(parsed, ParsedEmail)
    channels = add_channels(slack)
    config = parse_config(make_config_data(channels={"default": channels["default"]}, **email_config(imap)))
    # The crash: the issue was committed, then the process died before marking the message \Seen.
    database = Database(database_url)
    await take_email(database, config, parsed)
    await database.dispose()
    assert all("\\Seen" not in flags for _, flags in imap.messages())
    async with await start(database_url, slack, imap, channels) as stack:
        await wait_until(stack, lambda: all("\\Seen" in f for _, f in imap.messages()), "marked seen")
        await stack.wait_for_cards(channels["default"], 1, timeout=15)
        await asyncio.sleep(0.3)
        assert len(await issues(stack)) == 1
        assert len(slack.messages(channels["default"])) == 1


async def test_the_corpus_of_awkward_messages(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    expected = 0
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        imap.deliver(raw)
        parsed = parse_email(raw)
        if isinstance(parsed, ParsedEmail):
            expected += 1
    assert expected >= 5
    async with await start(database_url, slack, imap) as stack:
        await wait_until(
            stack, lambda: all("\\Seen" in f for _, f in imap.messages()), "corpus processed", timeout=30
        )
        async with stack.runtime.database.session() as session:
            count = await session.scalar(select(func.count()).select_from(Issue))
        # Replies in the corpus whose parents are in the corpus join them; everything else is an issue.
        assert 1 <= int(count or 0) <= expected


async def test_take_email_directly_threads_by_subject(database: Database, make_config: Any) -> None:
    config = make_config(email={"host": "imap.example.test", "user": "support"})
    first = parse_email(mail("Printer offline", "It is offline.", sender="bob@example.org")[0])
    again = parse_email(mail("RE: Printer offline", "Still offline.", sender="bob@example.org")[0])
    other = parse_email(mail("RE: Printer offline", "Mine too.", sender="eve@example.org")[0])
    assert (
        isinstance(first, ParsedEmail) and isinstance(again, ParsedEmail) and isinstance(other, ParsedEmail)
    )
    created = await take_email(database, config, first)
    reply = await take_email(database, config, again)
    separate = await take_email(database, config, other)
    assert created.kind == "new_issue"
    assert (reply.kind, reply.issue_id) == ("reply", created.issue_id)
    assert separate.kind == "new_issue" and separate.issue_id != created.issue_id
    assert (await take_email(database, config, again)).kind == "duplicate"


async def test_check_tries_the_mailbox_login(
    database: Database, database_url: str, imap: DovecotServer, make_settings: Any, make_config: Any
) -> None:
    from bot.checks import run_checks

    imap.deliver(mail()[0])
    config = make_config(**email_config(imap))
    good = await run_checks(make_settings(database_url=database_url, imap_password=imap.password), config)
    assert f"✓ ok mailbox: mailbox {imap.user} on {imap.host}: 1 message(s) to take" in good.lines
    bad = await run_checks(make_settings(database_url=database_url, imap_password="wrong"), config)
    assert (
        f"✗ error mailbox: login refused for {imap.user} on {imap.host}"
        " → fix: check the email section and IMAP_PASSWORD"
    ) in bad.lines
    missing = await run_checks(make_settings(database_url=database_url), config)
    assert (
        "✗ error mailbox: IMAP_PASSWORD is not set: the support mailbox cannot be read"
        " → fix: set IMAP_PASSWORD"
    ) in missing.lines


async def test_a_huge_message_is_read_only_up_to_the_bound(
    database_url: str, slack: FakeSlack, imap: DovecotServer
) -> None:
    raw, _ = mail("Huge log attached inline", "START " + "x" * 200_000 + " END")
    imap.deliver(raw)
    async with await start(database_url, slack, imap, max_message_bytes=4096) as stack:
        await stack.wait_for_cards(stack.channels["default"], 1, timeout=15)
        [issue] = await issues(stack)
        assert issue.body.startswith("START") and "END" not in issue.body
        assert len(issue.body) < 4096
