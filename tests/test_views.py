"""Golden tests of the pure Block Kit views: exact output for the cases that matter.

Set UPDATE_GOLDEN=1 to rewrite the files after an intended change, then read the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block

from bot.views.blocks import decode_state, encode_state, escape, truncate
from bot.views.issue_card import CardCustomer, IssueCard, render_issue_card
from bot.views.report_modal import ReportPrefill, render_report_modal

GOLDEN = Path(__file__).parent / "golden"
WHEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def assert_golden(name: str, value: object) -> None:
    path = GOLDEN / f"{name}.json"
    rendered = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"golden file {path.name} missing: run with UPDATE_GOLDEN=1 once and review it"
    assert rendered == path.read_text(encoding="utf-8")


def assert_valid_blocks(blocks: list[dict[str, object]]) -> None:
    assert len(blocks) <= 50
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


def make_card(**overrides: object) -> IssueCard:
    values: dict[str, object] = {
        "issue_id": 42,
        "subject": "Login with SSO fails after password reset",
        "body": "Since this morning none of our staff can log in.\nWe get error 500 on the SSO page.",
        "source": "zendesk",
        "severity": "high",
        "reported_at": WHEN,
        "customer": CardCustomer(
            name="Dana Smith", email="dana@acme.test", company="Acme Corp", plan="Enterprise"
        ),
        "product_area": "authentication",
        "tags": ("bug", "login"),
        "report_count": 1,
        "customer_count": 1,
        "url": "https://acme.zendesk.com/agent/tickets/1234",
    }
    values.update(overrides)
    return IssueCard(**values)  # type: ignore[arg-type]


def test_new_issue_card() -> None:
    blocks, text = render_issue_card(make_card())
    assert_valid_blocks(blocks)
    assert_golden("issue_card_new", {"text": text, "blocks": blocks})


def test_issue_card_from_slack_without_named_customer_mentions_the_author() -> None:
    card = make_card(
        source="slack",
        url=None,
        permalink="https://acme.slack.com/archives/C0FEEDBACK1/p1700000000000100",
        customer=CardCustomer(slack_user_id="U0CUSTOMER1", external_id="U0CUSTOMER1"),
        reported_by="U0AGENT0001",
        product_area=None,
        tags=(),
        severity="normal",
    )
    blocks, text = render_issue_card(card)
    assert_valid_blocks(blocks)
    assert_golden("issue_card_slack", {"text": text, "blocks": blocks})


def test_long_text_is_cut_to_slack_limits_with_a_visible_ellipsis() -> None:
    card = make_card(
        subject="S" * 400, body="word " * 2000, product_area="a" * 300, tags=tuple(f"t{i}" for i in range(20))
    )
    blocks, text = render_issue_card(card)
    assert_valid_blocks(blocks)
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("…")
    assert blocks[1]["text"]["text"].endswith("…")
    assert len(blocks[1]["text"]["text"]) <= 3000
    assert_golden("issue_card_long", {"text": text, "blocks": blocks})


def test_hostile_text_shows_as_text_and_pings_no_one() -> None:
    card = make_card(
        subject="<!channel> urgent",
        body="<!here> please <https://evil.example|Approve payment> & <@U0ADMIN001> <#C0GENERAL1>",
        customer=CardCustomer(name="<!everyone>", company="<https://x.test|ACME>", plan="&lt;"),
        product_area="<!subteam^S123>",
        tags=("<b>",),
    )
    blocks, text = render_issue_card(card)
    assert_valid_blocks(blocks)
    # The header is plain_text, which Slack never parses for mentions or links: shown as typed.
    assert blocks[0]["text"] == {"type": "plain_text", "text": "#42 · <!channel> urgent", "emoji": True}
    rendered = json.dumps(blocks[1:])
    for control in (
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<https://evil",
        "<@U0ADMIN001>",
        "<#C0GENERAL1>",
        "<!subteam",
    ):
        assert control not in rendered and control not in text
    assert "&lt;!here&gt;" in blocks[1]["text"]["text"]
    assert blocks[1]["text"]["verbatim"] is True
    assert_golden("issue_card_hostile", {"text": text, "blocks": blocks})


def test_report_modal_prefilled_from_a_message() -> None:
    view = render_report_modal(
        ReportPrefill(
            subject="Export is broken",
            body="Export is broken\nsince Tuesday",
            channel="C0FEEDBACK1",
            message_ts="1700000000.000100",
            author="U0CUSTOMER1",
        ),
        ["low", "normal", "high", "urgent"],
        ["bug", "billing"],
    )
    assert decode_state(view["private_metadata"]) == {
        "v": 1,
        "channel": "C0FEEDBACK1",
        "ts": "1700000000.000100",
        "author": "U0CUSTOMER1",
    }
    assert_golden("report_modal_prefilled", view)


def test_escape_and_truncate() -> None:
    assert escape("a & <b> c") == "a &amp; &lt;b&gt; c"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 3) == "abc"
    # Never leaves half an escape sequence before the ellipsis.
    assert truncate(escape("aaaa<"), 7) == "aaaa…"


@pytest.mark.parametrize("raw", [None, "", "not json", '{"v":2,"issue":1}', "[1]"])
def test_decode_state_rejects_what_it_did_not_encode(raw: str | None) -> None:
    assert decode_state(raw) == {}


def test_state_round_trip() -> None:
    assert decode_state(encode_state(issue=42)) == {"v": 1, "issue": 42}


def test_claimed_issue_card() -> None:
    blocks, _ = render_issue_card(make_card(claimed_by="U0AGENT001", tag_options=("bug", "login", "billing")))
    assert_valid_blocks(blocks)
    assert_golden("issue_card_claimed", {"blocks": blocks})


def test_resolved_issue_card_offers_reopen_only() -> None:
    blocks, _ = render_issue_card(make_card(status="resolved", resolved_by="U0AGENT001"))
    assert_valid_blocks(blocks)
    controls = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert "issue.reopen" in controls and "issue.claim" not in controls and "issue.resolve" not in controls
    assert_golden("issue_card_resolved", {"blocks": blocks})
