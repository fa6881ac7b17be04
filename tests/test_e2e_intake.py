"""End to end: really signed webhooks through the real aiohttp app, cards into a fake Slack that checks
every call against Slack's published contract. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from bot.domain.outbox import SyncCard
from bot.services import outbox
from db.models import Issue, OutboxItem, outbox_items
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, add_channels, make_issue_payload, running_app

FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


async def issue_count(stack: Stack) -> int:
    async with stack.runtime.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Issue)) or 0)


async def test_new_issue_answers_202_and_posts_one_card_to_the_routed_channel(stack: Stack) -> None:
    response = await stack.webhook(make_issue_payload(external_id="T-100", product_area="billing"))
    assert response.status == 202
    issue_id = (await response.json())["id"]
    cards = await stack.wait_for_cards(stack.channels["billing"], 1)
    card = cards[0]
    assert card["blocks"][0]["text"]["text"] == f"#{issue_id} · Invoices export times out"
    assert card["unfurl_links"] is False and card["unfurl_media"] is False
    assert "Invoices export times out" in card["text"]
    stored = await stack.wait_for_recorded_card(issue_id)
    assert (stored.channel, stored.ts) == (stack.channels["billing"], card["ts"])
    assert stack.slack.messages(stack.channels["default"]) == []


async def test_repeat_by_external_id_or_webhook_id_answers_200_with_the_same_id_and_no_second_card(
    stack: Stack,
) -> None:
    payload = make_issue_payload(external_id="T-7")
    first = await stack.webhook(payload, msg_id="msg_one")
    issue_id = (await first.json())["id"]
    same_source_id = await stack.webhook(payload, msg_id="msg_two")
    same_msg_id = await stack.webhook(make_issue_payload(external_id="T-other"), msg_id="msg_one")
    assert (same_source_id.status, await same_source_id.json()) == (200, {"id": issue_id})
    assert (same_msg_id.status, await same_msg_id.json()) == (200, {"id": issue_id})
    await stack.wait_for_cards(stack.channels["default"], 1)
    await asyncio.sleep(0.3)  # give a wrong second post the chance to happen
    assert len(stack.slack.calls_to("chat.postMessage")) == 1
    assert await issue_count(stack) == 1


async def test_concurrent_duplicate_webhooks_make_one_issue_and_one_card(stack: Stack) -> None:
    payload = make_issue_payload(external_id="T-race")
    responses = await asyncio.gather(*(stack.webhook(payload) for _ in range(10)))
    statuses = sorted(r.status for r in responses)
    ids = {(await r.json())["id"] for r in responses}
    assert statuses == [200] * 9 + [202]
    assert len(ids) == 1
    await stack.wait_for_cards(stack.channels["default"], 1)
    await asyncio.sleep(0.3)
    assert len(stack.slack.messages(stack.channels["default"])) == 1


@pytest.mark.parametrize(
    ("mutate", "status", "needle"),
    [
        (lambda p: p.pop("customer"), 400, "customer: is required"),
        (lambda p: p["customer"].pop("id"), 400, "customer.id: is required"),
        (lambda p: p.update(subject="   "), 400, "subject"),
        (lambda p: p.update(severity="catastrophic"), 400, "severity"),
        (lambda p: p.update(tags="bug"), 400, "tags"),
        (lambda p: p.update(url="javascript:alert(1)"), 400, "url"),
        (lambda p: p.update(created_at="yesterday"), 400, "created_at"),
    ],
)
async def test_malformed_issue_is_400_naming_the_field(
    stack: Stack, mutate: Any, status: int, needle: str
) -> None:
    payload = make_issue_payload()
    mutate(payload)
    response = await stack.webhook(payload)
    assert response.status == status
    body = await response.json()
    assert needle in body["error"]
    assert await issue_count(stack) == 0


async def test_invalid_json_and_non_objects_are_400(stack: Stack) -> None:
    not_json = await stack.webhook(b"{not json")
    assert not_json.status == 400 and "not valid JSON" in (await not_json.json())["error"]
    a_list = await stack.webhook(b"[1, 2]")
    assert a_list.status == 400 and "JSON object" in (await a_list.json())["error"]


async def test_unknown_fields_are_ignored(stack: Stack) -> None:
    response = await stack.webhook(make_issue_payload(colour="blue", customer={"id": "c", "shoe_size": 44}))
    assert response.status == 202


async def test_signature_problems_are_401_and_store_nothing(stack: Stack) -> None:
    payload = make_issue_payload()
    wrong_secret = await stack.webhook(payload, secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==")
    stale = await stack.webhook(payload, timestamp=datetime.now(UTC) - timedelta(minutes=6))
    future = await stack.webhook(payload, timestamp=datetime.now(UTC) + timedelta(minutes=6))
    unsigned = await stack.http.post(stack.url("/intake/webhook"), json=payload)
    for response in (wrong_secret, stale, future, unsigned):
        assert response.status == 401, await response.text()
    assert await issue_count(stack) == 0


async def test_body_over_one_mebibyte_is_413(stack: Stack) -> None:
    payload = make_issue_payload(body="x" * (1024 * 1024 + 10))
    response = await stack.webhook(payload)
    assert response.status == 413
    assert await issue_count(stack) == 0


async def test_long_customer_text_is_kept_bounded_and_the_card_stays_within_limits(stack: Stack) -> None:
    response = await stack.webhook(make_issue_payload(subject="S" * 2000, body="B" * 100_000))
    assert response.status == 202
    card = (await stack.wait_for_cards(stack.channels["default"], 1))[0]
    assert card["blocks"][0]["text"]["text"].endswith("…")
    assert card["blocks"][1]["text"]["text"].endswith("…")


async def test_hostile_customer_text_reaches_slack_escaped(stack: Stack) -> None:
    response = await stack.webhook(
        make_issue_payload(
            body="<!channel> click <https://evil.example|Approve>", customer={"id": "x", "name": "<@U0ADMIN>"}
        )
    )
    assert response.status == 202
    card = (await stack.wait_for_cards(stack.channels["default"], 1))[0]
    serialized = json.dumps(card["blocks"][1:]) + card["text"]
    assert (
        "<!channel>" not in serialized
        and "<https://evil" not in serialized
        and "<@U0ADMIN>" not in serialized
    )
    assert "&lt;!channel&gt;" in card["blocks"][1]["text"]["text"]


async def test_slack_failing_then_recovering_delivers_the_card_once(stack: Stack) -> None:
    # Three 500s exhaust slack_sdk's in-call retries (2); the outbox retries after a backoff.
    stack.slack.fail("chat.postMessage", times=3, status=500)
    response = await stack.webhook(make_issue_payload())
    assert response.status == 202
    await stack.wait_for_cards(stack.channels["default"], 1)
    await asyncio.sleep(0.3)
    assert len(stack.slack.messages(stack.channels["default"])) == 1


async def test_rate_limited_post_waits_for_retry_after(stack: Stack) -> None:
    stack.slack.fail("chat.postMessage", times=2, status=429, retry_after=1)
    started = asyncio.get_running_loop().time()
    await stack.webhook(make_issue_payload())
    await stack.wait_for_cards(stack.channels["default"], 1, timeout=10)
    # Two 429s with Retry-After: 1 → at least about two seconds before the post goes through.
    assert asyncio.get_running_loop().time() - started >= 1.8
    assert len(stack.slack.messages(stack.channels["default"])) == 1


async def test_a_delivery_that_keeps_failing_shows_on_readyz_without_taking_the_process_out(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # An error that may pass (Slack has trouble on its side): retried, and visible while it lasts.
    stack.slack.fail_all("chat.postMessage", error="fatal_error")
    await stack.webhook(make_issue_payload())

    async def reported_stuck() -> bool:
        response = await stack.http.get(stack.url("/readyz"))
        return response.status == 200 and (await response.json())["checks"]["deliveries"]["stuck"] == 1

    await stack.slack.wait_for(reported_stuck, timeout=10, message="/readyz reports the stuck delivery")
    body = await (await stack.http.get(stack.url("/readyz"))).json()
    assert body["status"] == "ready"  # the process can serve: a stuck delivery is for `check` and alerts
    assert "fatal_error" in body["checks"]["deliveries"]["last_error"]
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage() == "delivery failed, will retry"
    ]
    assert warnings and warnings[-1].error == "slack: fatal_error"  # type: ignore[attr-defined]
    stack.slack.recover("chat.postMessage")
    await stack.wait_for_cards(stack.channels["default"], 1, timeout=10)

    async def flowing() -> bool:
        return (await (await stack.http.get(stack.url("/readyz"))).json())["checks"]["deliveries"][
            "stuck"
        ] == 0

    await stack.slack.wait_for(flowing, timeout=5, message="/readyz shows nothing stuck again")


async def test_a_card_for_a_channel_that_is_gone_is_given_up_once_not_retried_forever(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack.slack.fail_all("chat.postMessage", error="is_archived")
    await stack.webhook(make_issue_payload())

    def given_up() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage() == "delivery given up: it can never succeed"]

    await stack.slack.wait_for(lambda: bool(given_up()), timeout=10, message="the card is given up")
    assert given_up()[0].levelno == logging.WARNING
    assert given_up()[0].error == "slack: is_archived"  # type: ignore[attr-defined]

    def card_rows(conn: Connection) -> list[tuple[str, int, str | None]]:
        return [
            (r.status, r.attempts, r.last_error)
            for r in conn.execute(select(outbox_items).where(outbox_items.c.kind == "sync_card"))
        ]

    assert await stack.runtime.database.transaction(card_rows) == [("dead", 1, "slack: is_archived")]
    await asyncio.sleep(0.5)  # long past the test policy's backoff: nothing asks Slack again
    assert len(stack.slack.calls_to("chat.postMessage")) == 1
    # A dead card is not a stuck one: this web process stays in the load balancer.
    assert (await stack.http.get(stack.url("/readyz"))).status == 200


async def test_bot_not_in_channel_joins_and_posts(database_url: str, slack: FakeSlack) -> None:
    channels = add_channels(slack)
    channels["default"] = slack.add_channel("not-joined-yet", members_bot=False)
    async with running_app(database_url, slack, channels) as stack:
        await stack.webhook(make_issue_payload())
        await stack.wait_for_cards(channels["default"], 1)
    assert [c[0] for c in slack.calls if c[0] in {"chat.postMessage", "conversations.join"}] == [
        "chat.postMessage",
        "conversations.join",
        "chat.postMessage",
    ]


async def test_restart_with_pending_deliveries_sends_them_once(database_url: str, slack: FakeSlack) -> None:
    channels = add_channels(slack)
    slack.fail_all("chat.postMessage", status=503)
    async with running_app(database_url, slack, channels) as stack:
        responses = [await stack.webhook(make_issue_payload()) for _ in range(3)]
        assert [r.status for r in responses] == [202, 202, 202]
    slack.recover()
    assert slack.messages(channels["default"]) == []
    async with running_app(database_url, slack, channels) as restarted:
        await restarted.wait_for_cards(channels["default"], 3)
        await asyncio.sleep(0.3)
        async with restarted.runtime.database.session() as session:
            pending = await session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")
            )
    assert len(slack.messages(channels["default"])) == 3
    assert pending == 0


async def test_zendesk_ticket_becomes_a_card_with_a_link_back(stack: Stack) -> None:
    body = (FIXTURES / "zendesk" / "trigger_ticket.json").read_bytes()
    response = await stack.zendesk(body)
    assert response.status == 202, await response.text()
    issue_id = (await response.json())["id"]
    async with stack.runtime.database.session() as session:
        issue = await session.get(Issue, issue_id)
    assert issue is not None and issue.source == "zendesk"
    cards = await stack.wait_for_cards(issue.channel_id, 1)
    buttons = [e for b in cards[0]["blocks"] if b["type"] == "actions" for e in b["elements"] if "url" in e]
    assert buttons and buttons[0]["url"] == issue.url and buttons[0]["text"]["text"] == "Open in Zendesk"
    again = await stack.zendesk(body)
    assert (again.status, (await again.json())["id"]) == (200, issue_id)


async def test_zendesk_bad_signature_ignored_event_and_malformed_payload(stack: Stack) -> None:
    created = (FIXTURES / "zendesk" / "ticket_created_event.json").read_bytes()
    assert (await stack.zendesk(created, secret="wrong")).status == 401
    stale = await stack.zendesk(created, timestamp="2020-01-01T00:00:00Z")
    assert stale.status == 401
    ignored = await stack.zendesk((FIXTURES / "zendesk" / "ticket_status_changed_event.json").read_bytes())
    assert ignored.status == 200 and "ignored" in await ignored.json()
    malformed = await stack.zendesk(
        (FIXTURES / "zendesk" / "ticket_created_event_missing_id.json").read_bytes()
    )
    assert malformed.status == 400 and (await malformed.json())["field"] == "detail.id"
    assert await issue_count(stack) == 0


async def test_intercom_conversation_becomes_a_card_once_per_notification(stack: Stack) -> None:
    raw = json.loads((FIXTURES / "intercom" / "conversation_user_created.json").read_text())
    raw["created_at"] = int(datetime.now(UTC).timestamp())  # inside the replay window
    body = json.dumps(raw).encode()
    response = await stack.intercom(body)
    assert response.status == 202, await response.text()
    issue_id = (await response.json())["id"]
    await stack.wait_for_cards(stack.channels["default"], 1)
    again = await stack.intercom(body)
    assert (again.status, (await again.json())["id"]) == (200, issue_id)
    assert (await stack.intercom(body, secret="nope")).status == 401
    ping = json.loads((FIXTURES / "intercom" / "ping.json").read_text())
    ping["created_at"] = int(datetime.now(UTC).timestamp())
    assert (await stack.intercom(json.dumps(ping).encode())).status == 200
    assert await issue_count(stack) == 1


async def test_logs_at_info_carry_no_customer_text_or_secrets(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_body = "my password is hunter2 and my card 4111-1111"
    response = await stack.webhook(make_issue_payload(body=secret_body, subject="Very private subject"))
    assert response.status == 202
    await stack.wait_for_cards(stack.channels["default"], 1)
    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.getMessage() == "issue received" for r in info)
    for record in info:
        text = record.getMessage() + repr(record.__dict__)
        for forbidden in (
            secret_body,
            "Very private subject",
            stack.settings.slack_signing_secret.get_secret_value(),
            "xoxb-test-token",
        ):
            assert forbidden not in text, record.getMessage()


async def test_health_and_readiness(stack: Stack) -> None:
    health = await stack.http.get(stack.url("/healthz"))
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    ready = await stack.http.get(stack.url("/readyz"))
    body = await ready.json()
    assert ready.status == 200 and body["checks"]["database"] == "ok" and body["checks"]["migrations"] == "ok"


async def test_a_change_re_renders_the_posted_card_in_place(stack: Stack) -> None:
    """Any later change asks for the card again; the bot edits the message it posted (chat.update)
    from stored state instead of posting a new one."""
    first = await (await stack.webhook(make_issue_payload(external_id="A", customer={"id": "a"}))).json()
    second = await (await stack.webhook(make_issue_payload(external_id="B", customer={"id": "b"}))).json()
    await stack.wait_for_recorded_card(first["id"])
    await stack.wait_for_recorded_card(second["id"])
    card = next(
        m
        for m in stack.slack.messages(stack.channels["default"])
        if m["blocks"][0]["text"]["text"].startswith(f"#{first['id']} ")
    )
    assert "1 report · 1 customer" in json.dumps(card["blocks"], ensure_ascii=False)

    def merge_and_ask_again(conn: Any) -> None:
        problem = conn.execute(select(Issue.problem_id).where(Issue.id == first["id"])).scalar_one()
        conn.execute(Issue.__table__.update().where(Issue.id == second["id"]).values(problem_id=problem))
        outbox.enqueue_in(conn, SyncCard(first["id"]), dedupe_key=f"card:{first['id']}")

    await stack.runtime.database.transaction(merge_and_ask_again)
    stack.runtime.deliverer.wake()
    await stack.slack.wait_for(
        lambda: (
            "2 reports · 2 customers"
            in json.dumps(stack.slack.message(card["channel"], card["ts"])["blocks"], ensure_ascii=False)
        ),
        message="the card shows the merged counts",
    )
    assert len(stack.slack.messages(stack.channels["default"])) == 2
    assert [args["ts"] for args in stack.slack.calls_to("chat.update")] == [card["ts"]]
