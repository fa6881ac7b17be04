"""Golden tests of the pure Block Kit views: exact output for the cases that matter.

Set UPDATE_GOLDEN=1 to rewrite the files after an intended change, then read the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block

from bot.domain.cards import CardCustomer, IssueCard
from bot.views.blocks import (
    decode_state,
    duration_text,
    encode_state,
    escape,
    local_time,
    slack_time,
    truncate,
)
from bot.views.customers import render_set_customer_modal
from bot.views.issue_card import render_issue_card
from bot.views.notes import CUSTOMER_ANSWER_PREVIEW_MAX, render_customer_answer
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


def test_issue_card_logged_from_slack_without_a_customer_offers_set_customer() -> None:
    card = make_card(
        source="slack",
        url=None,
        permalink="https://acme.slack.com/archives/C0FEEDBACK1/p1700000000000100",
        customer=None,
        customer_count=0,
        reported_by="U0AGENT0001",
        product_area=None,
        tags=(),
    )
    blocks, text = render_issue_card(card)
    assert_valid_blocks(blocks)
    assert "No customer yet" in json.dumps(blocks)
    assert_golden("issue_card_no_customer", {"text": text, "blocks": blocks})


def test_set_customer_modal() -> None:
    view = render_set_customer_modal(42)
    assert_golden("set_customer_modal", view)


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


# -- merging, escalation and closing the loop ------------------------------------------------------

from bot.domain.cards import CustomerToTell, JiraLink, ResolvedProblem, Suggestion  # noqa: E402
from bot.domain.escalation import EscalationDefaults  # noqa: E402
from bot.ids import Action  # noqa: E402
from bot.views.escalation import (  # noqa: E402
    SearchHit,
    render_customer_list,
    render_escalate_modal,
    render_link_modal,
    render_rationale_modal,
    render_rationale_request,
    render_search_results,
)
from bot.views.notes import render_triage_note  # noqa: E402

HOSTILE = "<!channel> *bold* <https://evil.test|click here> & `code`"


def action_ids(blocks: list[dict[str, object]]) -> list[str]:
    found: list[str] = []
    for block in blocks:
        elements = block.get("elements") if block.get("type") == "actions" else None
        for element in elements or []:  # type: ignore[attr-defined]
            found.append(element["action_id"])
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            found.append(accessory["action_id"])
    return found


def test_open_problem_card_offers_escalation_merge_and_suggestions() -> None:
    card = make_card(
        problem_id=7,
        report_count=5,
        customer_count=3,
        sources=("zendesk", "email"),
        customer_names=("Dana Smith (Acme Corp)", "Lee", "Kim"),
        suggestions=(Suggestion(problem_id=9, issue_id=123, subject="SSO loop after reset", customers=14),),
    )
    blocks, text = render_issue_card(card)
    assert_valid_blocks(blocks)
    assert_golden("issue_card_problem_with_suggestion", {"text": text, "blocks": blocks})
    ids = action_ids(blocks)
    for wanted in (Action.ESCALATE, Action.ESCALATE_MORE, Action.MERGE_INTO, Action.MERGE_SUGGESTED):
        assert wanted in ids
    assert "Looks like *#123* — 14 customers" in json.dumps(blocks, ensure_ascii=False)


def test_card_without_jira_configured_offers_no_escalation() -> None:
    blocks, _ = render_issue_card(make_card(jira_enabled=False))
    ids = action_ids(blocks)
    assert Action.ESCALATE not in ids and Action.ESCALATE_MORE not in ids
    assert Action.MERGE_INTO in ids


def test_escalated_card_shows_key_status_and_link() -> None:
    jira = JiraLink(
        state="created", key="SUP-12", url="https://acme.atlassian.net/browse/SUP-12", status="In Progress"
    )
    blocks, text = render_issue_card(make_card(jira=jira))
    assert_valid_blocks(blocks)
    assert_golden("issue_card_escalated", {"text": text, "blocks": blocks})
    assert Action.ESCALATE not in action_ids(blocks)
    assert Action.OPEN_JIRA in action_ids(blocks)


def test_pending_and_failed_escalations() -> None:
    pending, _ = render_issue_card(make_card(jira=JiraLink(state="pending", attempts=2)))
    assert "Escalating… (Jira did not answer; retry 2)" in json.dumps(pending, ensure_ascii=False)
    assert Action.ESCALATE not in action_ids(pending)
    failed, _ = render_issue_card(make_card(jira=JiraLink(state="failed", error="priority: not valid <x>")))
    assert_valid_blocks(failed)
    assert Action.ESCALATE_RETRY in action_ids(failed)
    assert "priority: not valid &lt;x&gt;" in json.dumps(failed)


def test_hostile_jira_text_is_escaped_on_the_card() -> None:
    jira = JiraLink(
        state="created",
        key="SUP-1",
        url="https://acme.atlassian.net/browse/SUP-1",
        status=HOSTILE,
        assignee=HOSTILE,
        resolution=HOSTILE,
        fix_versions=(HOSTILE,),
    )
    blocks, _ = render_issue_card(make_card(jira=jira, rationale=HOSTILE))
    assert_valid_blocks(blocks)
    dumped = json.dumps(blocks)
    assert "<!channel>" not in dumped and "<https://evil.test" not in dumped
    assert "&lt;!channel&gt;" in dumped


def test_merged_report_card_points_at_its_problem() -> None:
    card = make_card(
        merged_into=123,
        merged_into_link="https://acme.slack.com/archives/C1/p1",
        report_count=4,
        customer_count=3,
    )
    blocks, text = render_issue_card(card)
    assert_valid_blocks(blocks)
    assert_golden("issue_card_merged", {"text": text, "blocks": blocks})
    ids = action_ids(blocks)
    assert Action.UNMERGE in ids and Action.OPEN_PROBLEM in ids
    assert Action.CLAIM not in ids and Action.ESCALATE not in ids


def test_resolved_problem_card_counts_customers_still_to_tell() -> None:
    jira = JiraLink(
        state="created", key="SUP-3", url="https://a.atlassian.net/browse/SUP-3", resolution="Done"
    )
    blocks, _ = render_issue_card(make_card(status="resolved", jira=jira, to_tell=2, customer_count=5))
    assert '"Customers to tell*\\n2 still to tell"' in json.dumps(blocks) or "2 still to tell" in json.dumps(
        blocks
    )
    assert Action.MERGE_INTO not in action_ids(blocks)
    done, _ = render_issue_card(make_card(status="resolved", jira=jira, to_tell=0))
    assert "all told" in json.dumps(done)


def test_customer_list_marks_who_was_told() -> None:
    problem = ResolvedProblem(
        problem_id=7,
        issue_id=42,
        subject="SSO",
        jira_key="SUP-3",
        jira_url="https://a.atlassian.net/browse/SUP-3",
        resolution="Done",
        fix_versions=("2.4.0",),
        customers=(
            CustomerToTell(1, "Dana Smith", "Acme", "dana@acme.test", ("zendesk", "email"), None),
            CustomerToTell(2, HOSTILE, None, None, ("slack",), "U0AGENT0001", notified=True),
        ),
    )
    blocks, text = render_customer_list(problem)
    assert_valid_blocks(blocks)
    assert_golden("customer_list", {"text": text, "blocks": blocks})
    assert action_ids(blocks).count(Action.MARK_NOTIFIED) == 1
    assert Action.MARK_ALL_NOTIFIED in action_ids(blocks)
    assert "<!channel>" not in json.dumps(blocks)


def test_a_wont_do_is_never_celebrated_and_carries_its_rationale() -> None:
    from dataclasses import replace

    problem = ResolvedProblem(
        problem_id=7,
        issue_id=42,
        subject="SSO",
        jira_key="SUP-3",
        jira_url=None,
        resolution="Won't Do",
        fix_versions=(),
        customers=(CustomerToTell(1, "Dana Smith", "Acme", None, ("email",), None),),
        wont_do=True,
    )
    blocks, _ = render_customer_list(problem)
    shown = json.dumps(blocks)
    assert ":tada:" not in shown and "won't be done" in shown
    blocks, _ = render_customer_list(replace(problem, rationale=f"Legacy exports retire. {HOSTILE}"))
    assert "Legacy exports retire" in json.dumps(blocks) and "<!channel>" not in json.dumps(blocks)
    assert_valid_blocks(blocks)


def test_customer_list_stays_within_slack_limits_for_many_customers() -> None:
    many = tuple(CustomerToTell(i, f"Customer {i}", None, None, ("webhook",), None) for i in range(120))
    problem = ResolvedProblem(7, 42, "x", "SUP-3", None, "Done", (), many)
    blocks, text = render_customer_list(problem)
    assert_valid_blocks(blocks)
    assert "120 more" not in text and "80 more" in json.dumps(blocks)
    assert "*120* of 120" in json.dumps(blocks)


def test_modals_and_requests_are_valid() -> None:
    defaults = EscalationDefaults("SUP", "Bug", "High", "Login fails")
    assert_golden("escalate_modal", render_escalate_modal(42, defaults))
    for view in (
        render_escalate_modal(42, defaults),
        render_link_modal(42),
        render_rationale_modal(7, HOSTILE, None),
    ):
        assert_valid_blocks(view["blocks"])  # type: ignore[arg-type]
        assert len(view["private_metadata"]) < 3000  # type: ignore[arg-type]
    blocks, _ = render_rationale_request(7, 42, HOSTILE, "SUP-3", "Won't Do", 4, "U0PM0000001")
    assert_valid_blocks(blocks)
    assert "<@U0PM0000001>" in json.dumps(blocks) and "<!channel>" not in json.dumps(blocks)


def test_search_results() -> None:
    hits = [
        SearchHit(
            42,
            "Invoice PDF is blank",
            "open",
            3,
            4,
            "SUP-9",
            "https://a.atlassian.net/browse/SUP-9",
            "In Progress",
            "https://acme.slack.com/archives/C1/p1",
            "C1",
        ),
        SearchHit(7, HOSTILE, "resolved", 1, 1, None, None, None, None, "C2"),
    ]
    blocks, text = render_search_results("invoice <!here>", hits)
    assert_valid_blocks(blocks)
    assert_golden("search_results", {"text": text, "blocks": blocks})
    _empty, text = render_search_results("nothing", [])
    assert "No issues match" in text


@pytest.mark.parametrize(
    ("kind", "detail", "expected"),
    [
        ("merged", {"into": 123, "problem": 9}, "merged this report into #123"),
        (
            "merged_in",
            {"issues": [43, 44], "customers": 3},
            "merged #43, #44 into this problem; 3 customers now",
        ),
        ("unmerged", {"from": 123}, "took this report out of #123"),
        ("escalated", {"key": "SUP-4"}, "Escalated to Jira as *SUP-4*"),
        ("escalation_failed", {"error": "boom <!here>"}, "boom &lt;!here&gt;"),
        (
            "jira_updated",
            {"key": "SUP-4", "by": "Ann", "changes": [["status", "To Do", "Done"]]},
            "status: To Do → *Done*",
        ),
        ("jira_deleted", {"key": "SUP-4"}, "was deleted in Jira"),
        ("sla_reminder", {"target": "1 hour"}, "first-response target (1 hour) is reached"),
        ("sla_escalation", {"target": "1 hour", "group": "S0ONDUTY1"}, "<!subteam^S0ONDUTY1>"),
    ],
)
def test_thread_notes(kind: str, detail: dict[str, object], expected: str) -> None:
    blocks, _text = render_triage_note(kind, "U0AGENT0001", detail)
    assert_valid_blocks(blocks)
    assert expected in json.dumps(blocks, ensure_ascii=False).replace('\\"', '"')


def test_the_report_form_says_which_customer_details_are_needed() -> None:
    from bot.ids import Block

    view = render_report_modal(ReportPrefill(), ["low", "normal"], [])
    name = next(b for b in view["blocks"] if b.get("block_id") == Block.REPORT_CUSTOMER_NAME)
    assert "A name or an e-mail is needed" in name["hint"]["text"]
    logged = render_report_modal(ReportPrefill(message_ts="1.2"), ["normal"], [])
    name = next(b for b in logged["blocks"] if b.get("block_id") == Block.REPORT_CUSTOMER_NAME)
    assert "another workspace" in name["hint"]["text"] and "is needed" in name["hint"]["text"]


def test_numbers_read_as_a_person_would_write_them() -> None:
    from bot.domain.digest import Change
    from bot.views.blocks import plural
    from bot.views.digest import counted
    from bot.views.notes import render_triage_note

    assert [plural(1, "customer"), plural(2, "customer"), plural(1, "person", "people")] == [
        "1 customer",
        "2 customers",
        "1 person",
    ]
    assert plural(3, "person", "people") == "3 people"
    assert counted(Change("Resolved", 22, 0)) == "22 (none before)"
    assert counted(Change("Resolved", 0, 0)) == "0 (none before either)"
    assert counted(Change("Resolved", 5, 3)) == "5 (▲ +2, 3 before)"
    _, text = render_triage_note("seen_while_shadowing", "U1", {"session": 3})
    assert "seen_while_shadowing" not in text and "while shadowing" in text


def test_search_shows_a_wont_do_as_such_with_its_rationale() -> None:
    hit = SearchHit(9, "Legacy CSV export", "resolved", 3, 4, "SUP-9", None, "Done", None, "C2")
    blocks, _ = render_search_results("csv", [replace(hit, wont_do=True, rationale=f"Retired. {HOSTILE}")])
    shown = json.dumps(blocks)
    assert "won't do" in shown and ":white_check_mark: resolved" not in shown and "Retired." in shown
    assert "<!channel>" not in shown
    blocks, _ = render_search_results("csv", [hit])
    assert ":white_check_mark: resolved" in json.dumps(blocks)


# -- first response on the card, and times --------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
DUE = WHEN + timedelta(hours=1)  # Fri 20 Nov 15:30 UTC, 16:30 in Berlin


def first_response_line(blocks: list[dict[str, object]]) -> str | None:
    for block in blocks:
        if block["type"] == "context":
            text = block["elements"][0]["text"]  # type: ignore[index]
            if "First response" in text:
                return str(text)
    return None


def test_the_card_shows_when_the_first_response_is_due_in_each_readers_zone() -> None:
    card = make_card(received_at=WHEN, first_response_due=DUE)
    blocks, _ = render_issue_card(card, WHEN + timedelta(minutes=20), BERLIN)
    unix = int(DUE.timestamp())
    assert first_response_line(blocks) == (
        f":hourglass_flowing_sand: First response due <!date^{unix}^{{date_short_pretty}} at {{time}}"
        "|Fri 20 Nov 16:30>"
    )
    assert_valid_blocks(blocks)
    assert_golden("issue_card_first_response_due", blocks)


def test_past_due_the_card_says_how_late() -> None:
    card = make_card(received_at=WHEN, first_response_due=DUE)
    blocks, _ = render_issue_card(card, DUE + timedelta(minutes=25), BERLIN)
    line = first_response_line(blocks)
    assert line is not None and line.startswith(":warning: First response late by 25 min (due <!date^")
    blocks, _ = render_issue_card(card, DUE + timedelta(seconds=20), BERLIN)
    assert str(first_response_line(blocks)).startswith(":warning: First response overdue (due <!date^")
    blocks, _ = render_issue_card(card, DUE + timedelta(hours=26, minutes=3), BERLIN)
    assert "late by 1 d 2 h" in str(first_response_line(blocks))


def test_answered_the_card_says_by_whom_in_how_long_and_how_late() -> None:
    on_time = make_card(
        received_at=WHEN,
        first_response_due=DUE,
        first_response_at=WHEN + timedelta(minutes=12),
        first_response_by="U0AGENT001",
    )
    blocks, _ = render_issue_card(on_time, DUE + timedelta(days=3), BERLIN)
    assert first_response_line(blocks) == ":speech_balloon: First response by <@U0AGENT001> in 12 min"
    late = replace(on_time, first_response_at=DUE + timedelta(minutes=25))
    blocks, _ = render_issue_card(late, DUE + timedelta(days=3), BERLIN)
    assert first_response_line(blocks) == (
        ":speech_balloon: First response by <@U0AGENT001> in 1 h 25 min, late by 25 min"
    )
    assert_golden("issue_card_first_response_late", blocks)
    # Resolved by Jira (no one named): how long it took, without a name.
    nobody = replace(on_time, first_response_by=None)
    blocks, _ = render_issue_card(nobody, DUE, BERLIN)
    assert first_response_line(blocks) == ":speech_balloon: First response in 12 min"


def test_no_due_line_without_a_target_or_once_it_no_longer_waits() -> None:
    assert first_response_line(render_issue_card(make_card(received_at=WHEN), WHEN)[0]) is None
    for done in ({"status": "resolved"}, {"merged_into": 7}):
        card = make_card(received_at=WHEN, first_response_due=DUE, **done)
        assert first_response_line(render_issue_card(card, DUE + timedelta(hours=1))[0]) is None


def test_times_are_slack_dates_with_a_fallback_in_the_configured_zone() -> None:
    winter = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 7, 9, 5, tzinfo=UTC)
    assert local_time(winter, BERLIN) == "Tue 8 Dec 10:00"
    assert local_time(summer, BERLIN) == "Tue 7 Jul 11:05"
    assert slack_time(winter, BERLIN) == (
        f"<!date^{int(winter.timestamp())}^{{date_short_pretty}} {{time}}|Tue 8 Dec 10:00>"
    )
    assert slack_time(winter, ZoneInfo("America/New_York"), "{date_long}") == (
        f"<!date^{int(winter.timestamp())}^{{date_long}}|Tue 8 Dec 04:00>"
    )
    assert [duration_text(s) for s in (0, 59, 12 * 60, 100 * 60, 3 * 3600, 26 * 3600 + 180)] == [
        "0 min",
        "1 min",
        "12 min",
        "1 h 40 min",
        "3 h",
        "1 d 2 h",
    ]


def test_golden_home_with_links_wont_do_and_the_lead_view() -> None:
    from zoneinfo import ZoneInfo

    from bot.domain.home import ClaimedIssue, Escalated, Home, LeadView, TopProblem, UrgentProblem
    from bot.views.home import render_home

    link = "https://fake.slack.com/archives/C0SUPPORT01/p1700000000000100"
    home = Home(
        user="U0LEAD0001",
        claimed=[ClaimedIssue(7, "Export is empty <!channel>", "C0SUPPORT01", "normal")],
        escalated=[
            Escalated(
                7,
                "Export is empty <!channel>",
                "created",
                "SUP-7",
                "https://jira.example.com/browse/SUP-7",
                "Done",
                "Won't Do",
                3,
                wont_do=True,
            ),
            Escalated(8, "Login loops", "created", "SUP-8", None, "In Progress", None, 1),
        ],
        top=[
            TopProblem(7, "Export is empty <!channel>", 3, 1, "SUP-7", "Done", wont_do=True),
            TopProblem(9, "API down", 2, 0, None, None),
        ],
        lead=LeadView(
            backlog=(("under 1 day", 2), ("1\u20133 days", 1), ("3\u20137 days", 0), ("over 7 days", 4)),
            sla_breaches=3,
            unclaimed_urgent=(UrgentProblem(9, "API down <@U123>", "C0URGENT01", WHEN),),
            unclaimed_urgent_total=11,
        ),
    )
    view = render_home(home, ZoneInfo("Europe/Berlin"), {7: link, 9: link, 8: "javascript:alert(1)"})
    assert_valid_blocks(view["blocks"])
    shown = json.dumps(view)
    assert "<!channel>" not in shown and "<@U123>" not in shown
    assert "Done" not in shown and "won't do" in shown and "and 10 more" in shown
    assert "javascript:" not in shown  # only https links are made
    assert_golden("home_lead_view", view)


def test_customer_answer_note_golden() -> None:
    blocks, text = render_customer_answer(
        "Intercom", "Globex", "Sam Okafor", "sam@globex.example", "Any news?\n\nWe need it by Friday."
    )
    assert_valid_blocks(blocks)
    assert_golden("customer_answer", {"blocks": blocks, "text": text})


def test_customer_answer_note_hostile_long_golden() -> None:
    hostile = "<!channel> <https://evil.example|bank> &amp; <@U123>\x1b[31m\u202e"
    blocks, text = render_customer_answer("<!here>", None, hostile, None, hostile + "\n" + "y" * 3000)
    assert_valid_blocks(blocks)
    shown = blocks[0]["text"]["text"]
    assert "<!" not in shown and "<http" not in shown and "<@" not in shown and "\x1b" not in shown
    assert shown.endswith("y…") and shown.count("y") < CUSTOMER_ANSWER_PREVIEW_MAX
    assert "<" not in text
    assert_golden("customer_answer_hostile", {"blocks": blocks, "text": text})


def test_customer_answer_note_without_a_name_or_text() -> None:
    blocks, text = render_customer_answer("Zendesk", None, None, None, "  ")
    assert blocks[0]["text"]["text"] == "💬 *The customer* answered by Zendesk:\n>_(no text)_"
    assert text == "💬 The customer answered by Zendesk"


def _plan_session(session_id: int, day: int, name: str = "L1 support", location: str = "Room 4") -> Any:
    from bot.domain.shadowing import Session

    starts = datetime(2026, 12, day, 9, 0, tzinfo=UTC)
    return Session(
        id=session_id,
        programme="l1",
        name=name,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        capacity=2,
        location=location,
        hosts=("U0HOST0001",),
        status="scheduled",
        booked=("U0DAN00001",) if session_id == 1 else (),
    )


@pytest.mark.parametrize("by", ["U0CAT00001", "U0DAN00001"])
def test_onboarding_answer_names_the_empty_days_and_offers_free_sessions(by: str) -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from bot.domain.shadowing import Plan, PlanDay
    from bot.views.shadowing import plan, plan_reply

    zone = ZoneInfo("Europe/Berlin")
    p = Plan(
        "U0DAN00001",
        [
            PlanDay(date(2026, 12, 7), _plan_session(1, 7), existing=True),
            PlanDay(date(2026, 12, 8), reason="no open session that day"),
            PlanDay(date(2026, 12, 9), reason="no open session that day"),
        ],
        (_plan_session(7, 13, name="<!channel> desk", location="<https://evil.test|x>"),),
    )
    blocks, text = plan_reply(p, zone, by)
    assert_valid_blocks(blocks)
    dm_blocks, dm_text = plan(p, zone, by)
    assert_valid_blocks(dm_blocks)
    assert "<!channel>" not in json.dumps([blocks, dm_blocks])
    who = "self" if by == p.person else "manager"
    assert_golden(
        f"shadow_onboard_{who}",
        {"reply": {"text": text, "blocks": blocks}, "dm": {"text": dm_text, "blocks": dm_blocks}},
    )


def test_onboarding_answer_with_nothing_booked_promises_nothing() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from bot.domain.shadowing import Plan, PlanDay
    from bot.views.shadowing import plan, plan_reply

    zone = ZoneInfo("Europe/Berlin")
    p = Plan("U0DAN00001", [PlanDay(date(2026, 12, 8), reason="no open session that day")])
    blocks, text = plan_reply(p, zone, "U0CAT00001")
    dm_blocks, dm_text = plan(p, zone, "U0CAT00001")
    assert_valid_blocks(blocks)
    assert_valid_blocks(dm_blocks)
    assert_golden(
        "shadow_onboard_nothing",
        {"reply": {"text": text, "blocks": blocks}, "dm": {"text": dm_text, "blocks": dm_blocks}},
    )
    assert "reminder before" not in json.dumps([blocks, dm_blocks])


def test_a_rationale_request_once_written_shows_it_without_the_button() -> None:
    from bot.domain.escalation import RationaleWritten
    from bot.views.escalation import render_rationale_written

    written = RationaleWritten(
        3, 42, "Export <!channel> broken", "Legacy exports retire.\n<!here> *soon*", "U0CY0001"
    )
    blocks, text = render_rationale_written(written)
    assert_valid_blocks(blocks)
    assert "<!channel>" not in json.dumps(blocks) and "<!here>" not in json.dumps(blocks)
    assert_golden("rationale_written", {"text": text, "blocks": blocks})
