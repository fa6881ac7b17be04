"""The digest's figures, on both backends, against a small world whose every number is worked out by hand
below; and its views (golden Block Kit for a normal week, an empty week and a week with 50 problems)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.digest import AreaSatisfaction, Change, Digest, Spike, SpikeLine
from bot.services.digest import compute_digest
from bot.views.blocks import MESSAGE_BLOCKS_MAX, SECTION_TEXT_MAX
from bot.views.digest import render_digest, render_preview, render_spike_alerts, render_text
from db.models import alerts, csat_surveys, problems
from db.session import Database
from sandbox.fakes.contracts import block_kit_problems, contracts_dir
from tests import digest_world as w
from tests.test_views import assert_golden

BERLIN = ZoneInfo("Europe/Berlin")
END = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
START = END - timedelta(days=7)
PREV = START - timedelta(days=7)
H = timedelta(hours=1)


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def build_world(conn: Connection) -> dict[str, int]:
    """Five problems. This week is 16 Nov 08:00 to 23 Nov 08:00 UTC; the week before is 9 to 16 Nov.

    - P1 "Invoice PDF is blank" (billing, email, tag bug): this week c1, c2, c3 and c1 again (4 reports,
      3 customers); the week before c4. Escalated as SUP-1 (In Progress) this week. Reached 3 customers.
    - P2 "Login loops back to the form" (auth, webform): c7 on 1 Oct; this week c5, c6. Not new, not
      rising (nobody the week before).
    - P3 "CSV export crashes" (reports, zendesk, tag bug): c8 this week only: the one new problem.
    - P4 "Dashboard is slow" (reports, intercom): c1 the week before (tag ui); this week c2, c3, c4, c5:
      4 >= 2 x 1 and +3, so rising; the top problem.
    - P5 "Old sync bug" (no area, slack): c6 the week before only, resolved then; its escalation SUP-5
      was opened the week before and resolved in Jira this week.
    """
    c = {f"c{i}": w.customer(conn, f"c{i}") for i in range(1, 9)}
    p1 = w.problem(conn, "Invoice PDF is blank", at(10))
    p2 = w.problem(conn, "Login loops back to the form", at(1, month=10))
    p3 = w.problem(conn, "CSV export crashes", at(18))
    p4 = w.problem(conn, "Dashboard is slow", at(12))
    p5 = w.problem(conn, "Old sync bug", at(11))

    billing: dict[str, Any] = {"source": "email", "area": "billing", "tags": ("bug",)}
    w.report(conn, p1, c["c4"], at(10), **billing, first_response_at=at(10) + 1 * H)  # the week before
    w.report(conn, p1, c["c1"], at(16), **billing, first_response_at=at(16) + 1 * H, resolved_at=at(17))
    w.report(conn, p1, c["c2"], at(17), **billing, first_response_at=at(17) + 2 * H)
    w.report(conn, p1, c["c3"], at(18), **billing, first_response_at=at(18) + 4 * H)
    w.report(conn, p1, c["c1"], at(19), **billing)

    w.report(conn, p2, c["c7"], at(1, month=10), source="webform", area="auth")
    s5 = w.report(
        conn,
        p2,
        c["c5"],
        at(17, 8),
        source="webform",
        area="auth",
        severity="high",
        first_response_at=at(17, 8) + H / 2,
        resolved_at=at(17, 20),
    )
    w.report(conn, p2, c["c6"], at(20), source="webform", area="auth", severity="high")

    s8 = w.report(
        conn,
        p3,
        c["c8"],
        at(21),
        source="zendesk",
        area="reports",
        tags=("bug",),
        severity="high",
        first_response_at=at(21) + 1.5 * H,
    )

    w.report(conn, p4, c["c1"], at(12), source="intercom", area="reports", tags=("ui",))
    for name, day in (("c2", 16), ("c3", 17), ("c4", 19), ("c5", 22)):
        w.report(conn, p4, c[name], at(day), source="intercom", area="reports")

    old = w.report(
        conn, p5, c["c6"], at(11), source="slack", resolved_at=at(12), first_response_at=at(11) + H
    )

    w.escalation(conn, p1, "SUP-1", at(18), jira_status="In Progress")
    w.escalation(conn, p5, "SUP-5", at(11), jira_status="Done", jira_resolved_at=at(20))
    # SLA: two issues breached this week (one of them twice: reminder then escalation), one before.
    w.event(conn, s5, "sla_reminder", at(17, 9))
    w.event(conn, s8, "sla_reminder", at(21, 12))
    w.event(conn, s8, "sla_escalation", at(21, 14))
    w.event(conn, old, "sla_reminder", at(11, 12))
    conn.execute(
        insert(alerts).values(
            kind="threshold", subject=f"problem:{p1}", level="3", problem_id=p1, observed=3, raised_at=at(18)
        )
    )
    # The spike check (every 15 minutes) recorded one this week; the digest lists what it recorded.
    conn.execute(
        insert(alerts).values(
            kind="spike", subject="area:reports", level="7d", observed=5, expected=0.12, raised_at=at(22)
        )
    )
    # Saved answers: counted in the window from the replies made from them, not the all-time `uses`.
    csv = w.macro(conn, "CSV export workaround", uses=2)
    reset = w.macro(conn, "Password reset <steps>", uses=3)
    stale = w.macro(conn, "Stale answer", uses=40)
    w.reply(conn, s8, p3, at(21, 10), csv)
    w.reply(conn, s8, p3, at(22), csv)
    w.reply(conn, s5, p2, at(17, 9), reset)
    w.reply(conn, s5, p2, at(12), reset)  # the week before
    w.reply(conn, s5, p2, at(13), reset)
    w.reply(conn, s5, p2, at(14), stale)
    w.reply(conn, s5, p2, at(17, 10), None)  # written by hand
    # Satisfaction answers: billing (P1) 2 and 5 this week, reports (P4) 3 this week and 1 the week
    # before (not counted), P5 (no area) 4 this week.
    for problem_id, who, score, when in (
        (p1, "c1", 2, at(18)),
        (p1, "c2", 5, at(19)),
        (p4, "c2", 3, at(20)),
        (p4, "c1", 1, at(12)),
        (p5, "c6", 4, at(17)),
    ):
        issue_id = conn.execute(
            select(problems.c.primary_issue_id).where(problems.c.id == problem_id)
        ).scalar_one()
        conn.execute(
            insert(csat_surveys).values(
                problem_id=problem_id,
                customer_id=c[who],
                issue_id=issue_id,
                channel="email",
                state="sent",
                created_at=when - H,
                sent_at=when - H,
                score=score,
                answered_at=when,
            )
        )
    return {"p1": p1, "p2": p2, "p3": p3, "p4": p4, "p5": p5}


@pytest.fixture
def config(make_config: Any) -> AppConfig:
    return make_config(channels={"default": "C0DEFAULT01", "digest": "C0DIGEST001"})


async def test_figures_match_the_hand_count(database: Database, config: AppConfig) -> None:
    ids = await database.transaction(build_world)
    d = await database.transaction(lambda conn: compute_digest(conn, config, START, END))

    assert d.days == 7 and not d.quiet
    assert d.satisfaction == (
        AreaSatisfaction("billing", 3.5, 2),
        AreaSatisfaction("no area", 4.0, 1),
        AreaSatisfaction("reports", 3.0, 1),
    )
    # P1 4 + P2 2 + P3 1 + P4 4 this week; P1 1 + P4 1 + P5 1 the week before (P2's October one is older).
    assert d.new_issues == Change("new issues", 11, 3)
    assert d.by_source == (
        Change("email", 4, 1),
        Change("intercom", 4, 1),
        Change("webform", 2, 0),
        Change("zendesk", 1, 0),
        Change("slack", 0, 1),
    )
    assert d.by_area == (
        Change("reports", 5, 1),
        Change("billing", 4, 1),
        Change("auth", 2, 0),
        Change("no area", 0, 1),
    )
    assert d.by_tag == (Change("bug", 5, 1), Change("ui", 0, 1))
    assert d.problems == Change("problems", 4, 3)  # P1-P4 this week; P1, P4, P5 before

    # Ranked by distinct customers, not reports: P4 (4) before P1 (3 customers in 4 reports).
    top = [(line.problem_id, line.customers, line.customers_before, line.reports) for line in d.top]
    assert top == [(ids["p4"], 4, 1, 4), (ids["p1"], 3, 1, 4), (ids["p2"], 2, 0, 2), (ids["p3"], 1, 0, 1)]
    p1 = d.top[1]
    assert (p1.title, p1.jira_key, p1.jira_status) == ("Invoice PDF is blank", "SUP-1", "In Progress")
    assert p1.first_seen == at(10)
    assert d.top[2].first_seen == at(1, month=10)  # P2's first report ever, not this week's

    assert [line.problem_id for line in d.new_problems] == [ids["p3"]] and d.new_problems_total == 1
    assert [line.problem_id for line in d.rising] == [ids["p4"]] and d.rising_total == 1
    assert [(c.problem_id, c.threshold) for c in d.crossed] == [(ids["p1"], 3)]
    assert [(s.subject, s.span, s.observed) for s in d.spikes] == [("area:reports", "7d", 5)]

    assert d.resolved == Change("resolved", 2, 1)  # P1's c1 and P2's c5; P5's the week before
    assert d.sla_breaches == Change("SLA breaches", 2, 1)
    assert d.escalations_opened == Change("escalations", 1, 1)
    assert d.escalations_resolved == Change("escalations", 1, 0)

    timings = {t.severity: t for t in d.timings}
    # First responses in the window: normal 1 h, 2 h, 4 h -> 2 h; high 30 min, 90 min -> 60 min;
    # all five -> 1.5 h. Resolutions: normal 24 h (P1's c1), high 12 h (P2's c5), both -> 18 h.
    assert timings["normal"].first_response == pytest.approx(7200, abs=1)
    assert timings["normal"].first_response_n == 3
    assert timings["high"].first_response == pytest.approx(3600, abs=1)
    assert timings["all"].first_response == pytest.approx(5400, abs=1)
    assert timings["normal"].resolution == pytest.approx(86400, abs=1)
    assert timings["high"].resolution == pytest.approx(12 * 3600, abs=1)
    assert timings["all"].resolution == pytest.approx(18 * 3600, abs=1) and timings["all"].resolution_n == 2
    assert [t.severity for t in d.timings] == ["normal", "high", "all"]  # severity order, then overall

    # Open at the end: 15 reports, 3 resolved -> 12. By age at 23 Nov 08:00: under a day, P4's c5
    # (22 Nov 10:00); 1-7 days, P1 c2 c3 c1, P2 c6, P3 c8, P4 c2 c3 c4 (16 Nov 10:00 is 6 d 22 h old);
    # 7-30 days, P1 c4 (10 Nov) and P4 c1 (12 Nov); over 30 days, P2 c7 (1 Oct).
    assert d.backlog.buckets == (
        ("under 1 day", 1),
        ("1\u20137 days", 8),
        ("7\u201330 days", 2),
        ("over 30 days", 1),
    )
    assert d.backlog.total == 12

    # Weekly reports by area for the last 8 weeks, biggest areas first.
    assert [area for area, _ in d.trend.series] == ["reports", "billing", "auth", "no area"]
    assert dict(d.trend.series)["reports"] == (0, 0, 0, 0, 0, 0, 1, 5)
    assert dict(d.trend.series)["auth"][0] == 1  # 1 Oct falls in the first of the eight weeks


async def test_an_empty_week_says_so(database: Database, config: AppConfig) -> None:
    d = await database.transaction(lambda conn: compute_digest(conn, config, START, END))
    assert d.quiet and d.top == () and d.new_issues == Change("new issues", 0, 0)
    assert d.backlog.total == 0 and d.timings == () and d.trend.empty
    blocks, text = render_digest(d, BERLIN)
    assert "A quiet week" in json.dumps(blocks)
    assert "0 new issues" in text


def _shape(d: Digest) -> dict[str, Any]:
    blocks, text = render_digest(d, BERLIN, chart_note="Trend chart in the thread.")
    return {"text": text, "blocks": blocks}


def _checked(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= MESSAGE_BLOCKS_MAX
    for block in blocks:
        assert len(block.get("text", {}).get("text", "")) <= SECTION_TEXT_MAX
    if contracts_dir() is not None:
        assert block_kit_problems(blocks) == []


async def test_golden_normal_week(database: Database, config: AppConfig) -> None:
    await database.transaction(build_world)
    d = await database.transaction(lambda conn: compute_digest(conn, config, START, END))
    shape = _shape(d)
    _checked(shape["blocks"])
    assert_golden("digest_normal_week", shape)  # no database id shows, so both backends match it
    text = render_text(d, BERLIN)
    assert "Dashboard is slow" in text and "4 customers (▲ +3)" in text
    assert [(u.name, u.uses) for u in d.top_macros] == [
        ("CSV export workaround", 2),
        ("Password reset <steps>", 1),
    ]
    assert "Most used answers" in text and "CSV export workaround: 2 replies" in text
    rendered = json.dumps(shape["blocks"], ensure_ascii=False)
    assert "Most used answers" in rendered and "Password reset &lt;steps&gt; — 1 reply" in rendered
    assert "Satisfaction by area\n   billing: 3.5 / 5 (2 answers)" in text


async def test_golden_empty_week(database: Database, config: AppConfig) -> None:
    d = await database.transaction(lambda conn: compute_digest(conn, config, START, END))
    shape = _shape(d)
    _checked(shape["blocks"])
    assert d.top_macros == () and "Most used answers" not in json.dumps(shape["blocks"])
    assert_golden("digest_empty_week", shape)


async def test_golden_fifty_problems(database: Database, config: AppConfig) -> None:
    def fifty(conn: Connection) -> None:
        people = [w.customer(conn, f"p{i}") for i in range(60)]
        for n in range(50):
            pid = w.problem(
                conn, f"Problem {n:02d} <!channel> & a title long enough to be cut " + "x" * 200, at(16)
            )
            for k in range(50 - n):  # problem n has 50 - n customers this week
                w.report(
                    conn,
                    pid,
                    people[k],
                    at(16 + k % 6, 9 + k % 8),
                    area=f"area-{n % 12}",
                    tags=(f"t{n % 9}",),
                )

    await database.transaction(fifty)
    d = await database.transaction(lambda conn: compute_digest(conn, config, START, END))
    assert d.problems.now == 50 and len(d.top) == config.digest.top_problems
    assert [line.customers for line in d.top] == list(range(50, 40, -1))
    shape = _shape(d)
    _checked(shape["blocks"])
    rendered = json.dumps(shape["blocks"])
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered
    assert "and 40 more problems with reports" in rendered
    preview, _ = render_preview(d, BERLIN, channel="C0DIGEST001", value="{}")
    _checked(preview)
    assert_golden("digest_fifty_problems", shape)


def test_golden_spike_alert() -> None:
    """One post per check: each spike a line linking the card most reported there, with a button;
    hostile names escaped; past 40 lines, "and N more" keeps it under Slack's 50 blocks."""
    link = "https://fake.slack.com/archives/C0SUPPORT01/p1700000000000100"
    lines = [
        SpikeLine(
            Spike("area", "payments", "24h", 9, 0.25), "Card payments fail <!channel>", link, "C0SUPPORT01"
        ),
        SpikeLine(Spike("tag", "bug <@U1>", "7d", 12, 1.5), "Export is empty", None, "C0SUPPORT01"),
        SpikeLine(Spike("area", "sync", "7d", 6, 0.5)),
    ]
    blocks, text = render_spike_alerts(lines)
    _checked(blocks)
    rendered = json.dumps(blocks)
    assert "<!channel>" not in rendered and "<@U1>" not in rendered
    assert blocks[1]["accessory"] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open card", "emoji": True},
        "url": link,
        "action_id": "issue.open_problem",
    }
    assert "accessory" not in blocks[2] and "(card in <#C0SUPPORT01>)" in blocks[2]["text"]["text"]
    assert_golden("spike_alert", {"text": text, "blocks": blocks})

    many, _ = render_spike_alerts(
        [SpikeLine(Spike("tag", f"t{i}", "24h", 9, 0.5), "P", link) for i in range(60)]
    )
    _checked(many)
    assert len(many) <= MESSAGE_BLOCKS_MAX and many[-1]["elements"][0]["text"] == "and 20 more"


async def test_wont_do_is_counted_apart_from_fixes(database: Database, config: AppConfig) -> None:
    """P2's Jira issue was resolved as "Won't Do": its report resolved this week (c5) is not a fix, and
    the problem shows as won't do wherever it is listed, never with its Jira status "Done"."""

    def world(conn: Connection) -> dict[str, int]:
        ids = build_world(conn)
        w.escalation(
            conn,
            ids["p2"],
            "SUP-2",
            at(17),
            jira_status="Done",
            jira_resolution="won't do",
            jira_resolved_at=at(18),
        )
        return ids

    ids = await database.transaction(world)
    d = await database.transaction(lambda conn: compute_digest(conn, config, START, END))
    assert d.resolved == Change("resolved", 2, 1)
    assert (d.fixed.now, d.fixed.before) == (1, 1) and (
        d.resolved_wont_do.now,
        d.resolved_wont_do.before,
    ) == (1, 0)
    line = next(line for line in d.top if line.problem_id == ids["p2"])
    assert line.wont_do and not any(other.wont_do for other in d.top if other is not line)

    blocks, text = render_digest(d, BERLIN)
    _checked(blocks)
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "*Fixed*\\n1 (no change, 1 before)" in shown and "*Won't do*\\n1 (none before)" in shown
    assert "|SUP-2> :no_entry_sign: won't do" in shown
    assert "SUP-2 Done" not in shown and ":tada:" not in shown
    assert "1 fixed, 1 won't do" in text
    printed = render_text(d, BERLIN)
    assert "Won't do:" in printed and "SUP-2 won't do" in printed
