"""Answering a customer from a card, end to end: a signed click opens the form, a signed submission
queues the reply, the outbox delivers it through the report's channel once, and the card's thread
shows its state (sent, or failed with the reason and a working Retry).

The channel here is a recording one behind the `ReplyChannel` interface, so each delivery outcome
(refused, down, lost answer) can be produced on demand; the real channels (SMTP, Intercom, Zendesk,
the signed webhook) are tested against their servers in tests/test_reply_channels.py and end to end in
tests/test_e2e_reply_channels.py."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import Block
from bot.views.report_modal import INPUT
from db.models import customer_replies, issues
from integrations.replies import (
    Delivered,
    OutboundReply,
    ReplyOutcomeUnknown,
    ReplyRejected,
    ReplyUnavailable,
)
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from tests.conftest import JIRA_WEBHOOK_SECRET
from tests.harness import Stack, add_channels, click, has_control, new_card, running_app
from tests.harness import shown as shown_text

AGENT = "U0AGENT001"
WEBHOOKS = {"replies": {"webhooks": {"webform": {"notify_url": "https://forms.example.test/replies"}}}}


class RecordingChannel:
    """A reply channel that records what it was asked to send and fails as told."""

    name = "webhook"

    def __init__(self) -> None:
        self.sent: list[OutboundReply] = []
        self.failures: list[Exception] = []
        self.lost: set[str] = set()  # keys sent whose answer was "lost" (found again by find_sent)
        self.find_calls = 0
        self.closed = False

    async def send(self, reply: OutboundReply) -> Delivered:
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, ReplyOutcomeUnknown):
                self.sent.append(reply)  # it did arrive; only the answer was lost
                self.lost.add(reply.key)
            raise failure
        self.sent.append(reply)
        return Delivered(f"hook-{reply.key}")

    async def find_sent(self, reply: OutboundReply) -> Delivered | None:
        self.find_calls += 1
        return Delivered(f"hook-{reply.key}") if reply.key in self.lost else None

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def reply_stack(database_url: str, slack: FakeSlack) -> AsyncIterator[tuple[Stack, RecordingChannel]]:
    async with running_app(database_url, slack, add_channels(slack), config_overrides=WEBHOOKS) as stack:
        channel = RecordingChannel()
        stack.runtime.replies["webhook"] = channel  # type: ignore[index]
        yield stack, channel
    assert channel.closed  # the server's shutdown closes its reply channels (their HTTP sessions)


def submission(view: dict[str, Any], text: str, user: str = AGENT) -> dict[str, Any]:
    submitted = copy.deepcopy(view)
    submitted["state"] = {"values": {Block.REPLY_TEXT: {INPUT: {"type": "plain_text_input", "value": text}}}}
    return {"type": "view_submission", "user": {"id": user}, "view": submitted, "trigger_id": "1.2.3"}


async def open_form(stack: Stack, card: dict[str, Any]) -> dict[str, Any]:
    before = len(stack.slack.modals)
    await click(stack, card, "issue.reply", AGENT)
    await stack.slack.wait_for(lambda: len(stack.slack.modals) > before, message="the reply form opens")
    return stack.slack.modals[-1]


async def send(stack: Stack, card: dict[str, Any], text: str) -> Any:
    form = await open_form(stack, card)
    response = await stack.slack_interaction(submission(form, text))
    assert response.status == 200
    return response


async def reply_row(stack: Stack) -> Any:
    rows = await stack.runtime.database.transaction(
        lambda conn: conn.execute(select(customer_replies).order_by(customer_replies.c.id)).all()
    )
    assert rows, "no reply recorded"
    return rows[-1]


def thread_texts(stack: Stack, card: dict[str, Any]) -> list[str]:
    return [m.get("text", "") for m in stack.slack.thread(card["channel"], card["ts"])[1:]]


async def wait_for_line(
    stack: Stack, card: dict[str, Any], words: str, timeout: float = 10
) -> dict[str, Any]:
    def line() -> dict[str, Any] | None:
        for message in stack.slack.thread(card["channel"], card["ts"])[1:]:
            if words in message.get("text", ""):
                return message
        return None

    await stack.slack.wait_for(
        lambda: line() is not None, timeout=10, message=f"a thread line with {words!r}"
    )
    found = line()
    assert found is not None
    return found


async def test_a_reply_is_sent_once_and_its_thread_line_says_so(
    reply_stack: tuple[Stack, RecordingChannel],
) -> None:
    stack, channel = reply_stack
    issue_id, card = await new_card(stack)
    form = await open_form(stack, card)
    shown = str(form["blocks"])
    assert "Acme (Dana Smith)" in shown and "through its webhook" in shown
    assert "stay in Slack" in shown  # the form says only this text goes out

    response = await stack.slack_interaction(
        submission(form, "Hi Dana,\nwe found it: see <https://status.example.test|our status page>.")
    )
    assert response.status == 200
    line = await wait_for_line(stack, card, "Sent to Acme (Dana Smith) through its webhook by")
    assert f"<@{AGENT}>" in str(line["blocks"])
    assert len(channel.sent) == 1
    sent = channel.sent[0]
    assert sent.text == "Hi Dana,\nwe found it: see our status page (https://status.example.test)."
    assert sent.conversation_id is not None and sent.source == "webform"
    assert sent.subject == "Re: Invoices export times out"
    row = await reply_row(stack)
    assert (row.state, row.external_id, row.sent_by) == ("sent", f"hook-reply:{row.id}", AGENT)
    assert sent.key == f"reply:{row.id}"
    # One line in the thread, edited from "Sending…" to "Sent", never a second one.
    assert sum("Acme (Dana Smith)" in t for t in thread_texts(stack, card)) == 1
    first_response = await stack.runtime.database.transaction(
        lambda conn: conn.execute(
            select(issues.c.first_response_at, issues.c.first_response_by).where(issues.c.id == issue_id)
        ).one()
    )
    # A reply to the customer is a first response, by whoever sent it; the card says so.
    assert first_response.first_response_at is not None and first_response.first_response_by == AGENT
    await stack.slack.wait_for(
        lambda: f"First response by <@{AGENT}>" in shown_text(stack, card),
        message="the card names who answered",
    )


async def test_mentions_are_refused_on_the_field_and_nothing_is_sent(
    reply_stack: tuple[Stack, RecordingChannel],
) -> None:
    stack, channel = reply_stack
    _, card = await new_card(stack)
    form = await open_form(stack, card)
    response = await stack.slack_interaction(submission(form, "Ask <@U0PM000001> about it <!channel>"))
    answer = await response.json()
    assert answer["response_action"] == "errors"
    assert "Mentions" in answer["errors"][Block.REPLY_TEXT]
    response = await stack.slack_interaction(submission(form, "   \n\x00 "))
    assert (await response.json())["errors"][Block.REPLY_TEXT] == "Write the message to send."
    await stack.runtime.deliverer.run_once()
    assert channel.sent == []


async def test_a_refused_reply_shows_why_and_retry_sends_it(
    reply_stack: tuple[Stack, RecordingChannel],
) -> None:
    stack, channel = reply_stack
    _, card = await new_card(stack)
    channel.failures.append(ReplyRejected("the form service says conversation 12 is closed"))
    await send(stack, card, "We are on it.")
    line = await wait_for_line(stack, card, "Not sent to Acme (Dana Smith)")
    assert "conversation 12 is closed" in str(line["blocks"])
    assert has_control(line, "reply.retry")
    assert (await reply_row(stack)).state == "failed"

    await click(stack, {"channel": card["channel"], "ts": line["ts"]}, "reply.retry", AGENT)
    await wait_for_line(stack, card, "Sent to Acme (Dana Smith)")
    updated = stack.slack.message(card["channel"], line["ts"])
    assert not has_control(updated, "reply.retry")  # no dead button once it went out
    assert [r.key for r in channel.sent] == [f"reply:{(await reply_row(stack)).id}"]


async def test_a_lost_answer_is_adopted_not_sent_twice(reply_stack: tuple[Stack, RecordingChannel]) -> None:
    stack, channel = reply_stack
    _, card = await new_card(stack)
    channel.failures.append(ReplyOutcomeUnknown("timed out after sending"))
    await send(stack, card, "Fixed now.")
    await wait_for_line(stack, card, "Sent to Acme (Dana Smith)")
    assert len(channel.sent) == 1 and channel.find_calls == 1
    assert (await reply_row(stack)).state == "sent"


async def test_a_channel_down_is_retried_then_shown_failed(
    reply_stack: tuple[Stack, RecordingChannel],
) -> None:
    stack, channel = reply_stack
    stack.runtime.deliverer.policy = stack.runtime.deliverer.policy.model_copy(
        update={"base_backoff_seconds": 0.01, "max_backoff_seconds": 0.02}
    )
    _, card = await new_card(stack)
    channel.failures.extend(ReplyUnavailable("HTTP 503 from the form service") for _ in range(10))
    await send(stack, card, "Looking into it.")
    line = await wait_for_line(stack, card, "Not sent to Acme (Dana Smith)")
    assert "HTTP 503 from the form service (tried 6 times)" in str(line["blocks"])
    assert channel.sent == []


async def test_no_channel_back_offers_the_text_to_copy(database_url: str, slack: FakeSlack) -> None:
    async with running_app(database_url, slack, add_channels(slack)) as stack:
        _, card = await new_card(stack)
        form = await open_form(stack, card)
        assert "has no channel back" in str(form["blocks"])
        assert "`replies.email_fallback` would answer by e-mail" in str(form["blocks"])
        response = await stack.slack_interaction(
            submission(form, "Use <https://x.example.test|this> for now")
        )
        answer = await response.json()
        assert answer["response_action"] == "update"
        assert "this (https://x.example.test)" in str(answer["view"]["blocks"])
        assert "Nothing was sent" in str(answer["view"]["blocks"])
        rows = await stack.runtime.database.transaction(
            lambda conn: conn.execute(select(customer_replies.c.id)).all()
        )
        assert rows == []


@pytest.fixture
async def jira_reply_stack(
    database_url: str, slack: FakeSlack, jira: FakeJira
) -> AsyncIterator[tuple[Stack, RecordingChannel]]:
    settings = {
        "jira_url": jira.url,
        "jira_email": jira.email,
        "jira_api_token": jira.api_token,
        "jira_webhook_secret": JIRA_WEBHOOK_SECRET,
    }
    config = {**WEBHOOKS, "jira": {"project": "PROJ", "search_lag_seconds": 0.1}}
    async with running_app(
        database_url, slack, add_channels(slack), settings_overrides=settings, config_overrides=config
    ) as stack:
        stack.extra["jira"] = jira
        channel = RecordingChannel()
        stack.runtime.replies["webhook"] = channel  # type: ignore[index]
        yield stack, channel


def person(name: str) -> dict[str, str]:
    return {
        "id": name,
        "name": f"{name.title()} Example",
        "email": f"{name}@{name}.test",
        "company": name.title(),
    }


async def test_tell_all_sends_each_reachable_customer_the_fix_once(
    jira_reply_stack: tuple[Stack, RecordingChannel],
) -> None:
    stack, channel = jira_reply_stack
    jira: FakeJira = stack.extra["jira"]
    first_id, first = await new_card(stack, customer=person("dana"))
    for name, source in (("kim", "chat"), ("lee", "webform")):
        _, other = await new_card(stack, customer=person(name), source=source)
        await click(stack, other, "issue.merge_into", AGENT, selected_option={"value": str(first_id)})
    await stack.slack.wait_for(lambda: "3 customers" in shown_text(stack, first), message="merged")
    await click(stack, first, "issue.escalate", AGENT)
    await stack.slack.wait_for(lambda: "PROJ-" in shown_text(stack, first), timeout=15, message="escalated")
    key = next(iter(jira.issues))
    jira.resolve(key, "Done", fix_versions=["2.4.0"])
    assert (await stack.jira_webhook(jira.webhook_payload("jira:issue_updated", key))).status == 200
    listing = await wait_for_line(stack, first, "still to tell", timeout=20)
    assert has_control(listing, "problem.tell_all")

    before = len(stack.slack.modals)
    await click(stack, {"channel": first["channel"], "ts": listing["ts"]}, "problem.tell_all", AGENT)
    await stack.slack.wait_for(lambda: len(stack.slack.modals) > before, message="the form opens")
    form = stack.slack.modals[-1]
    text = str(form["blocks"])
    assert "Tells *2 customers*" in text and "2 through its webhook" in text
    assert "No channel back to Kim (Kim Example)" in text  # told another way, then Mark notified
    initial = form["blocks"][-2]["element"]["initial_value"]
    assert "{name}" in initial and "in version 2.4.0" in initial

    submitted = copy.deepcopy(form)
    submitted["state"] = {
        "values": {Block.TELL_ALL_TEXT: {INPUT: {"type": "plain_text_input", "value": initial}}}
    }
    body = {"type": "view_submission", "user": {"id": AGENT}, "view": submitted, "trigger_id": "1.2.3"}
    assert (await stack.slack_interaction(body)).status == 200
    assert (await stack.slack_interaction(body)).status == 200  # a second submission sends nothing more

    await stack.slack.wait_for(
        lambda: "1 still to tell" in shown_text(stack, first), timeout=15, message="told"
    )
    assert sorted(r.text.split(",")[0] for r in channel.sent) == ["Hi Dana", "Hi Lee"]
    assert all("in version 2.4.0" in r.text for r in channel.sent)
    await stack.slack.wait_for(
        lambda: (
            stack.slack.message(first["channel"], listing["ts"])["blocks"]
            .__str__()
            .count("told through its webhook")
            == 2
        ),
        message="the list shows who was told how",
    )
    rows = await stack.runtime.database.transaction(
        lambda conn: conn.execute(
            select(customer_replies.c.state).where(customer_replies.c.purpose == "fix_notice")
        ).all()
    )
    assert sorted(r.state for r in rows) == ["sent", "sent"]
