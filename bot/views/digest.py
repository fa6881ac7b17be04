"""The digest as Block Kit (the channel post and the `/support digest` preview) and as plain text (the
terminal's `supportbridge digest --print`). Pure: a Digest in, blocks or text out.

Customer text (problem titles) is escaped and cut; the message stays within Slack's 50 blocks and every
section within its 3000 characters whatever the week holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.digest import AreaSatisfaction, Change, Digest, ProblemLine, Spike, SpikeLine, Timing
from bot.domain.macros import MacroUse
from bot.ids import Action
from bot.views.blocks import (
    Blocks,
    actions,
    button,
    context,
    divider,
    duration_text,
    escape,
    fields,
    header,
    link_button,
    plural,
    section,
    truncate,
)

TITLE_MAX = 120
DASH = "\u2013"  # en dash, for ranges
MINUS = "\u2212"
FIELD_LINES = 8


def window_label(digest: Digest, zone: ZoneInfo) -> str:
    first = digest.start.astimezone(zone).date()
    last = (digest.end - timedelta(microseconds=1)).astimezone(zone).date()
    if first.year != last.year:
        return f"{first:%-d %b %Y} {DASH} {last:%-d %b %Y}"
    if first.month != last.month:
        return f"{first:%-d %b} {DASH} {last:%-d %b %Y}"
    return f"{first:%-d} {DASH} {last:%-d %b %Y}"


def title_of(digest: Digest, zone: ZoneInfo) -> str:
    kind = "Weekly digest" if digest.days == 7 else f"{digest.days}-day digest"
    return f"{kind} · {window_label(digest, zone)}"


def period_word(digest: Digest) -> str:
    return "week" if digest.days == 7 else f"{digest.days} days"


def change(now: int, before: int) -> str:
    """`▲ +5`, `▼ -3` (a true minus sign), `no change` or `new`, against the previous window."""
    if before == 0 and now > 0:
        return "new"
    delta = now - before
    if delta > 0:
        return f"▲ +{delta}"
    if delta < 0:
        return f"▼ {MINUS}{-delta}"
    return "no change"


def counted(item: Change) -> str:
    if item.before == 0:
        return f"{item.now} (none before)" if item.now else "0 (none before either)"
    return f"{item.now} ({change(item.now, item.before)}, {item.before} before)"


def elapsed(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    return duration_text(seconds)


def _day(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%-d %b %Y}"


def _jira(line: ProblemLine, *, links: bool) -> str:
    if not line.jira_key:
        return "not escalated"
    key = f"<{line.jira_url}|{escape(line.jira_key)}>" if links and line.jira_url else escape(line.jira_key)
    if line.wont_do:  # a decision not to do it, never shown as a fix
        return f"{key} :no_entry_sign: won't do"
    return f"{key} {escape(line.jira_status or '')}".rstrip()


def resolved_words(digest: Digest) -> str:
    """ "3 fixed, 1 won't do": a won't-do is a decision, not a fix, so it is counted apart."""
    words = f"{digest.fixed.now} fixed"
    if digest.resolved_wont_do.now:
        words += f", {digest.resolved_wont_do.now} won't do"
    return words


def _name(line: ProblemLine, links: Mapping[int, str]) -> str:
    title = escape(truncate(line.title, TITLE_MAX))
    link = links.get(line.problem_id) or line.permalink
    if link:
        return f"<{link}|{title}>"
    return f"{title} (card in <#{line.channel}>)" if line.channel else title


def _problem_block(rank: int, line: ProblemLine, zone: ZoneInfo, links: Mapping[int, str]) -> dict[str, Any]:
    plural = "s" if line.customers != 1 else ""
    reports = f"{line.reports} report{'s' if line.reports != 1 else ''}"
    return section(
        f"*{rank}. {_name(line, links)}*\n"
        f"*{line.customers} customer{plural}* {change(line.customers, line.customers_before)} · {reports}"
        f" · first seen {_day(line.first_seen, zone)} · Jira: {_jira(line, links=True)}"
    )


def _short_list(lines: Sequence[ProblemLine], total: int, links: Mapping[int, str], rising: bool) -> str:
    items = []
    for line in lines:
        if rising:
            items.append(
                f"• {_name(line, links)}: {line.customers_before} → *{plural(line.customers, 'customer')}*"
            )
        else:
            items.append(f"• {_name(line, links)}: *{plural(line.customers, 'customer')}*")
    if total > len(lines):
        items.append(f"and {total - len(lines)} more")
    return "\n".join(items)


def _dimension(items: Sequence[Change], *, empty: str = "none") -> str:
    if not items:
        return empty
    lines = [f"{escape(i.label)}: {i.now} ({change(i.now, i.before)})" for i in items[:FIELD_LINES]]
    if len(items) > FIELD_LINES:
        rest = items[FIELD_LINES:]
        lines.append(f"and {len(rest)} more, {sum(i.now for i in rest)} in all")
    return "\n".join(lines)


def _timing_lines(timings: Sequence[Timing]) -> str:
    if not timings:
        return "No issue was answered or resolved in this window."
    rows = []
    for t in timings:
        name = "all severities" if t.severity == "all" else t.severity
        rows.append(
            f"{name}: first response {elapsed(t.first_response)} (n={t.first_response_n}) · "
            f"resolution {elapsed(t.resolution)} (n={t.resolution_n})"
        )
    return "\n".join(rows)


def _satisfaction_lines(items: Sequence[AreaSatisfaction]) -> str:
    return "\n".join(
        f"• {escape(truncate(a.area, 60))}: *{a.average:.1f}* / 5 ({plural(a.answers, 'answer')})"
        for a in items
    )


def _spikes(spikes: Sequence[Spike]) -> str:
    return "\n".join(f"• {spike_text(s)}" for s in spikes[:8]) + (
        f"\nand {len(spikes) - 8} more" if len(spikes) > 8 else ""
    )


def _macro_lines(uses: Sequence[MacroUse]) -> str:
    return "\n".join(
        f"• {escape(truncate(use.name, TITLE_MAX))} — {plural(use.uses, 'reply', 'replies')}" for use in uses
    )


def fallback_text(digest: Digest, zone: ZoneInfo) -> str:
    new = digest.new_issues
    head = f"{title_of(digest, zone)}: {plural(new.now, 'new issue')} ({change(new.now, new.before)})"
    head += f", {resolved_words(digest)}, {digest.backlog.total} open"
    if digest.top:
        first = digest.top[0]
        head += f"; top problem: {escape(truncate(first.title, 80))} ({plural(first.customers, 'customer')})"
    return head


def render_digest(
    digest: Digest, zone: ZoneInfo, *, links: Mapping[int, str] | None = None, chart_note: str | None = None
) -> tuple[Blocks, str]:
    """The digest post. `links` maps problem ids to card permalinks known beyond the stored ones;
    `chart_note` says where the trend chart is (or why there is none)."""
    links = links or {}
    word = period_word(digest)
    blocks: Blocks = [
        header(title_of(digest, zone)),
        context(
            f"The last {digest.days} days, compared with the {digest.days} days before. "
            "Customers are counted once per problem, however many times they wrote."
        ),
        fields(
            [
                ("New issues", counted(digest.new_issues)),
                ("Fixed", counted(digest.fixed)),
                ("Won't do", counted(digest.resolved_wont_do)),
                ("Open backlog", str(digest.backlog.total)),
                ("Problems reported", counted(digest.problems)),
                ("Escalated to Jira", counted(digest.escalations_opened)),
                ("Escalations resolved", counted(digest.escalations_resolved)),
                ("SLA breaches", counted(digest.sla_breaches)),
            ]
        ),
    ]
    if digest.quiet:
        blocks.append(
            section(
                f"*A quiet {word}:* no new customer issues, none resolved and nothing escalated. "
                "Nothing to rank."
            )
        )
    else:
        blocks += [divider(), section("*:bar_chart: Top problems by distinct customers*")]
        if digest.top:
            blocks += [_problem_block(i, line, zone, links) for i, line in enumerate(digest.top, 1)]
            if digest.problems.now > len(digest.top):
                more = digest.problems.now - len(digest.top)
                blocks.append(context(f"and {more} more problem{'s' if more != 1 else ''} with reports"))
        else:
            blocks.append(section("No problem had new reports."))
        blocks.append(divider())
        blocks.append(
            section(
                f"*:new: New problems ({digest.new_problems_total})*\n"
                + (_short_list(digest.new_problems, digest.new_problems_total, links, False) or "none")
            )
        )
        blocks.append(
            section(
                f"*:chart_with_upwards_trend: Rising problems ({digest.rising_total})*\n"
                + (_short_list(digest.rising, digest.rising_total, links, True) or "none")
            )
        )
        blocks.append(
            fields(
                [
                    ("By channel", _dimension(digest.by_source)),
                    ("By product area", _dimension(digest.by_area)),
                    ("By tag", _dimension(digest.by_tag, empty="no tags")),
                ]
            )
        )
    if digest.crossed:
        lines = [
            f"• {escape(truncate(c.title, TITLE_MAX))} reached *{plural(c.threshold, 'customer')}*"
            for c in digest.crossed[:10]
        ]
        blocks.append(section("*:rotating_light: Thresholds crossed*\n" + "\n".join(lines)))
    if digest.spikes:
        blocks.append(section("*:warning: Spikes*\n" + _spikes(digest.spikes)))
    if digest.top_macros:
        blocks.append(section("*:speech_balloon: Most used answers*\n" + _macro_lines(digest.top_macros)))
    if digest.satisfaction:
        blocks.append(section("*:star: Satisfaction by area*\n" + _satisfaction_lines(digest.satisfaction)))
    blocks.append(divider())
    buckets = " · ".join(f"{label}: {n}" for label, n in digest.backlog.buckets)
    blocks.append(section(f"*Open backlog by age* ({digest.backlog.total})\n{buckets}"))
    blocks.append(section("*Median times, by severity*\n" + _timing_lines(digest.timings)))
    if chart_note:
        blocks.append(context(chart_note))
    return blocks, fallback_text(digest, zone)


def render_preview(
    digest: Digest, zone: ZoneInfo, *, channel: str | None, value: str, links: Mapping[int, str] | None = None
) -> tuple[Blocks, str]:
    """`/support digest`: the digest for the person asking, with a button to post it to the channel."""
    blocks, text = render_digest(digest, zone, links=links)
    if channel:
        blocks.append(
            actions([button("Post to the digest channel", Action.DIGEST_POST, value, style="primary")])
        )
        blocks.append(context(f"Only you can see this preview. Posting sends it to <#{channel}>."))
    else:
        blocks.append(context("Only you can see this preview. Set `channels.digest` to post digests."))
    return blocks, text


# -- the terminal --------------------------------------------------------------------------------------


def render_text(digest: Digest, zone: ZoneInfo) -> str:
    """`supportbridge digest --print`: the same figures for a terminal."""
    out = [title_of(digest, zone), "=" * len(title_of(digest, zone))]
    out.append(f"The last {digest.days} days, compared with the {digest.days} days before.")
    out.append("")
    for label, item in (
        ("New issues", digest.new_issues),
        ("Fixed", digest.fixed),
        ("Won't do", digest.resolved_wont_do),
        ("Problems reported", digest.problems),
        ("Escalated to Jira", digest.escalations_opened),
        ("Escalations resolved", digest.escalations_resolved),
        ("SLA breaches", digest.sla_breaches),
    ):
        out.append(f"{label + ':':<22}{counted(item)}")
    out.append(f"{'Open backlog:':<22}{digest.backlog.total}")
    out.append("")
    if digest.quiet:
        out.append(
            f"A quiet {period_word(digest)}: no new customer issues, none resolved, nothing escalated."
        )
    else:
        out.append("Top problems by distinct customers")
        for rank, line in enumerate(digest.top, 1):
            jira = f"{line.jira_key} {line.jira_status or ''}".strip() if line.jira_key else "not escalated"
            if line.jira_key and line.wont_do:
                jira = f"{line.jira_key} won't do"
            out.append(
                f"{rank:>3}. {truncate(line.title, TITLE_MAX)}\n"
                f"     {plural(line.customers, 'customer')}"
                f" ({change(line.customers, line.customers_before)}), "
                f"{plural(line.reports, 'report')}, first seen {_day(line.first_seen, zone)}, Jira: {jira}"
                f", issue #{line.issue_id}"
            )
        if digest.problems.now > len(digest.top):
            out.append(f"     and {digest.problems.now - len(digest.top)} more problems with reports")
        for name, lines, total in (
            ("New problems", digest.new_problems, digest.new_problems_total),
            ("Rising problems", digest.rising, digest.rising_total),
        ):
            out.append("")
            out.append(f"{name} ({total})")
            for line in lines:
                out.append(
                    f"   - {truncate(line.title, TITLE_MAX)}: {line.customers_before} -> {line.customers}"
                )
        for name, items in (
            ("By channel", digest.by_source),
            ("By product area", digest.by_area),
            ("By tag", digest.by_tag),
        ):
            out.append("")
            out.append(name)
            out.extend(f"   {i.label}: {i.now} ({change(i.now, i.before)})" for i in items)
            if not items:
                out.append("   none")
    if digest.crossed:
        out.append("")
        out.append("Thresholds crossed")
        out.extend(
            f"   - {truncate(c.title, TITLE_MAX)} reached {plural(c.threshold, 'customer')}"
            for c in digest.crossed
        )
    if digest.spikes:
        out.append("")
        out.append("Spikes")
        out.extend(f"   - {spike_text(s, markup=False)}" for s in digest.spikes)
    if digest.top_macros:
        out.append("")
        out.append("Most used answers")
        out.extend(f"   - {u.name}: {plural(u.uses, 'reply', 'replies')}" for u in digest.top_macros)
    if digest.satisfaction:
        out.append("")
        out.append("Satisfaction by area")
        out.extend(
            f"   {truncate(a.area, 60)}: {a.average:.1f} / 5 ({plural(a.answers, 'answer')})"
            for a in digest.satisfaction
        )
    out.append("")
    out.append("Open backlog by age: " + ", ".join(f"{label} {n}" for label, n in digest.backlog.buckets))
    out.append("")
    out.append("Median times, by severity")
    out.extend(f"   {line}" for line in _timing_lines(digest.timings).splitlines())
    out.append("")
    out.append("Weekly reports by product area, last 8 weeks")
    if digest.trend.empty:
        out.append("   none")
    for area, counts in digest.trend.series:
        out.append(f"   {truncate(area, 30):<30} " + " ".join(f"{n:>5}" for n in counts))
    return "\n".join(out) + "\n"


def spike_text(spike: Spike, *, markup: bool = True) -> str:
    what = "Product area" if spike.dimension == "area" else "Tag"
    span = "24 hours" if spike.span == "24h" else "7 days"
    name = f"*{escape(spike.name)}*" if markup else spike.name
    return (
        f"{what} {name}: {spike.observed} reports in the last {span}, "
        f"about {spike.expected:g} expected from the previous 8 weeks"
    )


SPIKE_LINES_MAX = 40  # one section each, under Slack's 50 blocks with the heading and the "more" line


def render_spike_alerts(lines: Sequence[SpikeLine]) -> tuple[Blocks, str]:
    """One post per spike check: every spike it raised, each naming the problem most reported there,
    linked to its card, with a button to open that card."""
    count = len(lines)
    heading = f":chart_with_upwards_trend: *{plural(count, 'complaint spike')}*"
    blocks: Blocks = [section(heading)]
    for line in lines[:SPIKE_LINES_MAX]:
        text = spike_text(line.spike)
        block = section(text)
        if line.problem_title:
            title = escape(truncate(line.problem_title, TITLE_MAX))
            if line.card_link:
                text += f"\nMost reported: <{line.card_link}|{title}>"
            elif line.channel:
                text += f"\nMost reported: {title} (card in <#{line.channel}>)"
            else:
                text += f"\nMost reported: {title}"
            block = section(text)
            if line.card_link and line.card_link.startswith("https://"):
                block["accessory"] = link_button("Open card", line.card_link, Action.OPEN_PROBLEM)
        blocks.append(block)
    if count > SPIKE_LINES_MAX:
        blocks.append(context(f"and {count - SPIKE_LINES_MAX} more"))
    first = lines[0].spike if lines else None
    text = f":chart_with_upwards_trend: {plural(count, 'complaint spike')}"
    if first is not None:
        text += f". {spike_text(first)}" + (f"; and {count - 1} more" if count > 1 else "") + "."
    return blocks, truncate(text, 3000)
