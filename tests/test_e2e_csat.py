"""Satisfaction surveys end to end: a customer told of a fix gets one "How did we do?" through their
report's channel (a recording `ReplyChannel`, as in tests/test_e2e_replies.py), the links open the bot's
own pages through the real aiohttp app, and the answer shows on the card and, when low, in its thread."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.ids import Block
from bot.services import csat
from bot.views.report_modal import INPUT
from db.models import csat_surveys, issues, utcnow
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from tests.conftest import JIRA_WEBHOOK_SECRET
from tests.harness import Stack, add_channels, click, new_card, running_app
from tests.harness import shown as shown_text
from tests.test_e2e_replies import AGENT, WEBHOOKS, RecordingChannel, person, wait_for_line

PUBLIC_URL = "https://support.example.test"
CSAT_ON = {**WEBHOOKS, "csat": {"enabled": True, "delay_hours": 0}}
LINK = re.compile(r"https://support\.example\.test/csat/([A-Za-z0-9_-]+)\?score=(\d)")


@pytest.fixture
async def csat_stack(database_url: str, slack: FakeSlack) -> AsyncIterator[tuple[Stack, RecordingChannel]]:
    async with running_app(
        database_url,
        slack,
        add_channels(slack),
        settings_overrides={"public_url": PUBLIC_URL},
        config_overrides=CSAT_ON,
    ) as stack:
        channel = RecordingChannel()
        stack.runtime.replies["webhook"] = channel  # type: ignore[index]
        yield stack, channel


async def schedule_survey(stack: Stack, issue_id: int) -> int | None:
    """Schedule a survey for the report's customer, as telling them does; its id, None if not asked."""

    def schedule(conn: Any) -> int | None:
        row = conn.execute(
            select(issues.c.problem_id, issues.c.customer_id).where(issues.c.id == issue_id)
        ).one()
        return csat.schedule(
            conn,
            stack.runtime.config,
            problem_id=row.problem_id,
            customer_id=row.customer_id,
            issue_id=issue_id,
            channel=csat.ReplyChannelName.WEBHOOK,
        )

    return await stack.runtime.database.transaction(schedule)


async def ask(stack: Stack, channel: RecordingChannel, issue_id: int) -> str:
    """Schedule the survey for the report's customer (as telling them does) and wait for its send;
    the token of its links."""

    before = len(channel.sent)
    assert await schedule_survey(stack, issue_id) is not None
    stack.runtime.deliverer.wake()
    await stack.slack.wait_for(lambda: len(channel.sent) > before, message="the survey is sent")
    tokens = {m.group(1) for m in LINK.finditer(channel.sent[-1].text)}
    assert len(tokens) == 1
    await wait_state(stack, "sent")
    return tokens.pop()


async def survey_row(stack: Stack) -> Any:
    return await stack.runtime.database.transaction(
        lambda conn: conn.execute(select(csat_surveys).order_by(csat_surveys.c.id.desc())).first()
    )


async def get(stack: Stack, token: str, score: str | None) -> tuple[int, str]:
    query = f"?score={score}" if score is not None else ""
    async with stack.http.get(stack.url(f"/csat/{token}{query}")) as response:
        return response.status, await response.text()


async def wait_state(stack: Stack, state: str) -> Any:
    """The latest survey once it has left `scheduled` for `state` (its send is recorded after it)."""
    for _ in range(200):
        row = await survey_row(stack)
        if row is not None and row.state == state:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"the survey did not become {state}")


@asynccontextmanager
async def resolved_stack(
    database_url: str, slack: FakeSlack, jira: FakeJira
) -> AsyncIterator[tuple[Stack, RecordingChannel, dict[str, Any], dict[str, Any]]]:
    """Two customers (Dana, Lee) of one problem, escalated and resolved in Jira: the card, and the
    customers-to-tell list in its thread."""
    settings = {
        "jira_url": jira.url,
        "jira_email": jira.email,
        "jira_api_token": jira.api_token,
        "jira_webhook_secret": JIRA_WEBHOOK_SECRET,
        "public_url": PUBLIC_URL,
    }
    config = {**CSAT_ON, "jira": {"project": "PROJ", "search_lag_seconds": 0.1}}
    async with running_app(
        database_url, slack, add_channels(slack), settings_overrides=settings, config_overrides=config
    ) as stack:
        channel = RecordingChannel()
        stack.runtime.replies["webhook"] = channel  # type: ignore[index]
        first_id, first = await new_card(stack, customer=person("dana"))
        _, other = await new_card(stack, customer=person("lee"))
        await click(stack, other, "issue.merge_into", AGENT, selected_option={"value": str(first_id)})
        await stack.slack.wait_for(lambda: "2 customers" in shown_text(stack, first), message="merged")
        await click(stack, first, "issue.escalate", AGENT)
        await stack.slack.wait_for(
            lambda: "PROJ-" in shown_text(stack, first), timeout=15, message="escalated"
        )
        key = next(iter(jira.issues))
        jira.resolve(key, "Done")
        assert (await stack.jira_webhook(jira.webhook_payload("jira:issue_updated", key))).status == 200
        listing = await wait_for_line(stack, first, "still to tell", timeout=20)
        yield stack, channel, first, listing


def surveys_sent(channel: RecordingChannel) -> list[Any]:
    return [r for r in channel.sent if r.key.startswith("csat:")]


async def test_mark_notified_asks_the_customer_through_their_channel(
    database_url: str, slack: FakeSlack, jira: FakeJira
) -> None:
    async with resolved_stack(database_url, slack, jira) as (stack, channel, first, listing):
        await click(stack, {"channel": first["channel"], "ts": listing["ts"]}, "problem.mark_notified", AGENT)
        await stack.slack.wait_for(lambda: len(surveys_sent(channel)) == 1, timeout=15, message="a survey")
        sent = surveys_sent(channel)[0]
        assert [int(m.group(2)) for m in LINK.finditer(sent.text)] == [1, 2, 3, 4, 5]
        row = await wait_state(stack, "sent")
        assert sent.text.startswith("Hi Dana,") and row.channel == "webhook"  # the one marked
        assert channel.sent[0].key.startswith("csat:")  # the only message: marking sends no fix notice


async def test_a_fix_notice_sent_asks_each_customer_once_with_five_links(
    database_url: str, slack: FakeSlack, jira: FakeJira
) -> None:
    async with resolved_stack(database_url, slack, jira) as (stack, channel, first, listing):
        before = len(stack.slack.modals)
        await click(stack, {"channel": first["channel"], "ts": listing["ts"]}, "problem.tell_all", AGENT)
        await stack.slack.wait_for(lambda: len(stack.slack.modals) > before, message="the form opens")
        form = copy.deepcopy(stack.slack.modals[-1])
        initial = form["blocks"][-2]["element"]["initial_value"]
        form["state"] = {
            "values": {Block.TELL_ALL_TEXT: {INPUT: {"type": "plain_text_input", "value": initial}}}
        }
        body = {"type": "view_submission", "user": {"id": AGENT}, "view": form, "trigger_id": "1.2.3"}
        assert (await stack.slack_interaction(body)).status == 200

        await stack.slack.wait_for(
            lambda: len(surveys_sent(channel)) == 2, timeout=15, message="two surveys sent"
        )
        rows = await stack.runtime.database.transaction(
            lambda conn: conn.execute(select(csat_surveys.c.customer_id, csat_surveys.c.state)).all()
        )
        assert len(rows) == 2 and {r.state for r in rows} <= {"sent", "scheduled"}
        for sent in surveys_sent(channel):
            assert sent.text.startswith(("Hi Dana,", "Hi Lee,"))
            assert "How did we do?" in sent.text
            scores = [int(m.group(2)) for m in LINK.finditer(sent.text)]
            assert scores == [1, 2, 3, 4, 5]
            assert sent.subject == "Re: Invoices export times out"
        tokens = {LINK.search(s.text).group(1) for s in surveys_sent(channel)}  # type: ignore[union-attr]
        assert len(tokens) == 2  # a secret per customer
        hashes = {
            r.token_hash
            for r in await stack.runtime.database.transaction(
                lambda conn: conn.execute(select(csat_surveys.c.token_hash)).all()
            )
        }
        assert hashes == {csat.token_hash(t) for t in tokens}  # only the hashes are stored


async def test_nothing_is_asked_when_csat_is_off(database_url: str, slack: FakeSlack) -> None:
    async with running_app(
        database_url,
        slack,
        add_channels(slack),
        settings_overrides={"public_url": PUBLIC_URL},
        config_overrides=WEBHOOKS,
    ) as stack:
        issue_id, _card = await new_card(stack)

        assert await schedule_survey(stack, issue_id) is None
        assert await survey_row(stack) is None


async def test_a_good_link_takes_the_score_once_and_the_card_shows_it(
    csat_stack: tuple[Stack, RecordingChannel],
) -> None:
    stack, channel = csat_stack
    issue_id, card = await new_card(stack)
    token = await ask(stack, channel, issue_id)

    status, page = await get(stack, token, "4")
    assert status == 200
    assert "Thank you" in page and "4/5" in page and f'action="/csat/{token}"' in page
    row = await survey_row(stack)
    assert row.score == 4 and row.answered_at is not None

    status, page = await get(stack, token, "5")
    assert status == 404 and "Not found" in page  # one use
    assert (await survey_row(stack)).score == 4

    await stack.slack.wait_for(
        lambda: "4.0 (1 answer)" in shown_text(stack, card), message="the card shows the satisfaction"
    )
    assert "Satisfaction" in shown_text(stack, card)
    # A good score posts nothing in the thread.
    assert not any("rated" in m.get("text", "") for m in stack.slack.thread(card["channel"], card["ts"])[1:])


async def test_wrong_expired_and_bad_requests(csat_stack: tuple[Stack, RecordingChannel]) -> None:
    stack, channel = csat_stack
    issue_id, _card = await new_card(stack)
    token = await ask(stack, channel, issue_id)

    async with stack.http.head(stack.url(f"/csat/{token}?score=1")) as response:
        assert response.status == 405  # a link checker's probe answers nothing
    status, page = await get(stack, "x" * 43, "3")
    assert status == 404 and "Not found" in page
    status, _ = await get(stack, "<script>", "3")
    assert status == 404
    for bad in ("0", "6", "2.5", "abc", None):
        status, page = await get(stack, token, bad)
        assert status == 400, bad
        assert "from 1 to 5" in page
    assert (await survey_row(stack)).score is None  # a bad score used nothing up

    await stack.runtime.database.transaction(
        lambda conn: conn.execute(update(csat_surveys).values(expires_at=utcnow() - timedelta(minutes=1)))
    )
    status, page = await get(stack, token, "3")
    assert status == 404 and token not in page
    assert (await survey_row(stack)).score is None


async def test_a_low_score_posts_to_the_thread_with_its_comment(
    csat_stack: tuple[Stack, RecordingChannel],
) -> None:
    stack, channel = csat_stack
    issue_id, card = await new_card(stack)
    token = await ask(stack, channel, issue_id)

    status, _ = await get(stack, token, "2")
    assert status == 200
    line = await wait_for_line(stack, card, "Acme (Dana Smith) rated 2/5")
    assert ":disappointed:" in str(line["blocks"])

    async with stack.http.post(
        stack.url(f"/csat/{token}"), data={"comment": "Took a week.\x00 <b>Too</b> slow"}
    ) as response:
        assert response.status == 200
    await stack.slack.wait_for(
        lambda: (
            "Took a week. &lt;b&gt;Too&lt;/b&gt; slow"
            in str(stack.slack.message(line["channel"], line["ts"])["blocks"])
        ),
        message="the line shows the comment, escaped",
    )
    assert (await survey_row(stack)).comment == "Took a week. <b>Too</b> slow"
    # One comment, and none that is too long.
    async with stack.http.post(stack.url(f"/csat/{token}"), data={"comment": "again"}) as response:
        assert response.status == 404
    assert (
        len([m for m in stack.slack.thread(card["channel"], card["ts"]) if "rated 2/5" in m.get("text", "")])
        == 1
    )


async def test_a_comment_too_long_is_refused(csat_stack: tuple[Stack, RecordingChannel]) -> None:
    stack, channel = csat_stack
    issue_id, _card = await new_card(stack)
    token = await ask(stack, channel, issue_id)
    assert (await get(stack, token, "5"))[0] == 200
    async with stack.http.post(stack.url(f"/csat/{token}"), data={"comment": "x" * 1001}) as response:
        assert response.status == 400
        assert "1,000" in await response.text()
    assert (await survey_row(stack)).comment is None


async def test_without_public_url_no_survey_is_sent(database_url: str, slack: FakeSlack) -> None:
    async with running_app(database_url, slack, add_channels(slack), config_overrides=CSAT_ON) as stack:
        channel = RecordingChannel()
        stack.runtime.replies["webhook"] = channel  # type: ignore[index]
        issue_id, _card = await new_card(stack)
        assert await schedule_survey(stack, issue_id) is not None
        stack.runtime.deliverer.wake()
        row = await wait_state(stack, "failed")
        assert "PUBLIC_URL" in row.reason
        assert channel.sent == []
