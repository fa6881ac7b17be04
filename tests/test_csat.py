"""Satisfaction: the views (the card's field, the question's text, the pages, the low score's line) and
the service rules that need no Slack ("Mark notified" asks once, only customers with a channel back)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.cards import JiraLink
from bot.domain.outbox import OutboxKind
from bot.services import csat
from bot.views.csat import (
    render_bad_request_page,
    render_low_score_note,
    render_survey_text,
    render_thanks_page,
    survey_links,
)
from bot.views.issue_card import render_issue_card
from db.models import csat_surveys, outbox_items
from db.session import Database
from tests import digest_world as w
from tests.test_views import assert_golden, assert_valid_blocks, make_card

WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_the_card_shows_the_satisfaction_with_every_other_field() -> None:
    jira = JiraLink(
        state="created", key="SUP-3", url="https://a.atlassian.net/browse/SUP-3", resolution="Done"
    )
    card = make_card(
        status="resolved", jira=jira, to_tell=0, customer_count=3, satisfaction=4.5, satisfaction_answers=2
    )
    blocks, text = render_issue_card(card)
    assert_valid_blocks(blocks)  # ten fields: Slack's most in one section
    assert_golden("issue_card_satisfaction", {"text": text, "blocks": blocks})
    assert "*Satisfaction*\\n4.5 (2 answers)" in json.dumps(blocks)
    plain, _ = render_issue_card(make_card())
    assert "Satisfaction" not in json.dumps(plain)


def test_the_question_has_five_links_and_no_markup() -> None:
    links = survey_links("https://support.example.test", "TOKEN")
    text = render_survey_text("How did we do?", "Invoice PDF is blank", "Ana Pérez", links)
    assert_golden("csat_survey_text", {"text": text})
    assert [url for _, url in links] == [
        f"https://support.example.test/csat/TOKEN?score={n}" for n in range(1, 6)
    ]


def test_pages_escape_what_they_show() -> None:
    page = render_bad_request_page('<script>alert("x")</script>')
    assert "<script>" not in page and "&lt;script&gt;" in page
    thanks = render_thanks_page(3, "/csat/abc_DEF-1", 1000)
    assert 'action="/csat/abc_DEF-1"' in thanks and 'maxlength="1000"' in thanks
    assert "http" not in thanks.replace("https://", "")  # no external asset
    assert "<form" not in render_thanks_page(3, None, 1000)


def test_the_low_score_line_is_escaped_and_bounded() -> None:
    blocks, text = render_low_score_note("<!channel> Globex", 1, "*bold* <@U123> " + "x" * 3000)
    shown = json.dumps(blocks)
    assert "&lt;!channel&gt;" in shown and "&lt;@U123&gt;" in shown
    assert len(blocks[0]["text"]["text"]) <= 3000
    assert text.startswith("<!channel> Globex rated 1/5")  # the fallback is plain text, not mrkdwn
    assert_valid_blocks(blocks)


def _problem_with_customers(conn: Connection, sources: dict[str, str]) -> tuple[int, dict[str, int]]:
    problem_id = w.problem(conn, "Invoice PDF is blank", WHEN)
    ids = {}
    for name, source in sources.items():
        ids[name] = w.customer(conn, name)
        w.report(conn, problem_id, ids[name], WHEN, source=source)
    return problem_id, ids


async def test_mark_notified_asks_each_reachable_customer_once(database: Database, make_config: Any) -> None:
    config: AppConfig = make_config(
        csat={"enabled": True, "delay_hours": 24},
        replies={"webhooks": {"webform": {"notify_url": "https://forms.example.test/replies"}}},
    )

    def mark(conn: Connection) -> list[Any]:
        problem_id, ids = _problem_with_customers(conn, {"ana": "webform", "bo": "slack"})
        csat.mark_notified_and_ask(conn, config, {"webhook"}, problem_id, None, "U0AGENT001")
        csat.mark_notified_and_ask(conn, config, {"webhook"}, problem_id, ids["ana"], "U0AGENT001")
        surveys = conn.execute(select(csat_surveys.c.customer_id, csat_surveys.c.channel)).all()
        assert [(s.customer_id, s.channel) for s in surveys] == [(ids["ana"], "webhook")]  # bo: no way back
        return list(
            conn.execute(
                select(outbox_items.c.next_attempt_at, outbox_items.c.created_at).where(
                    outbox_items.c.kind == OutboxKind.CSAT_SURVEY.value
                )
            ).all()
        )

    items = await database.transaction(mark)
    assert len(items) == 1
    waited = items[0].next_attempt_at - items[0].created_at
    assert waited.total_seconds() == 24 * 3600  # sent delay_hours later


async def test_mark_notified_asks_no_one_when_csat_is_off(database: Database, make_config: Any) -> None:
    config: AppConfig = make_config(
        replies={"webhooks": {"webform": {"notify_url": "https://forms.example.test/replies"}}}
    )

    def mark(conn: Connection) -> int:
        problem_id, _ = _problem_with_customers(conn, {"ana": "webform"})
        marked = csat.mark_notified_and_ask(conn, config, {"webhook"}, problem_id, None, "U0AGENT001")
        assert marked == 1
        return len(conn.execute(select(csat_surveys.c.id)).all())

    assert await database.transaction(mark) == 0
