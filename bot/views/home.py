"""The App Home tab: each person's cockpit. Pure: data in, a Home view out (at most 100 blocks).

Sections: the issues you claimed, the problems you escalated with their Jira status, your shadowing
sessions (cancel, offer) and open sessions to sign up for, this week's top problems, and upcoming
releases. Every section says so plainly when it is empty.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.escalation import EscalationState
from bot.domain.home import Escalated, Home, TopProblem
from bot.views import shadowing as shadow_views
from bot.views.blocks import Blocks, context, divider, escape, header, plural, section, slack_time, truncate
from bot.views.digest import change

HOME_BLOCKS_MAX = 100


def _empty(text: str) -> dict[str, Any]:
    return context(text)


def render_home(home: Home, zone: ZoneInfo) -> dict[str, Any]:
    blocks: Blocks = [header("Supportbridge")]
    blocks.append(
        context("Customer issues, shadowing and releases at a glance. This page refreshes as things change.")
    )

    blocks.extend([divider(), section("*:ticket: Issues you're on*")])
    if home.claimed:
        for issue in home.claimed[:10]:
            blocks.append(
                section(
                    f"*#{issue.id}* {escape(truncate(issue.subject, 150))} · {escape(issue.severity)} · "
                    f"<#{issue.channel}>"
                )
            )
    else:
        blocks.append(_empty("Nothing claimed. Use *I'm on it* on a card to take an issue."))

    blocks.extend([divider(), section("*:outbox_tray: Problems you escalated*")])
    if home.escalated:
        blocks.extend(section(_escalated_line(e)) for e in home.escalated[:8])
    else:
        blocks.append(
            _empty("None yet. *Escalate to Jira* on a card files the problem's Jira issue in one click.")
        )

    if home.shadowing_enabled:
        blocks.extend([divider(), section("*:eyes: Your shadowing sessions*")])
        if home.mine:
            for session, status in home.mine[:8]:
                you = (
                    "booked"
                    if status == "booked"
                    else f"#{session.waitlisted.index(home.user) + 1} on the waitlist"
                )
                blocks.append(section(f"{shadow_views.line(session, zone)}\nYou: *{you}*"))
                blocks.append(shadow_views.mine_controls(session, status))
        else:
            blocks.append(
                _empty("No sessions booked yet. An hour with support is the best hour of your week.")
            )
        mine_ids = {s.id for s, _ in home.mine}
        listed = [s for s in home.open_sessions if s.id not in mine_ids][:8]
        blocks.append(section("*Open sessions*"))
        if listed:
            for session in listed:
                blocks.extend(shadow_views.listed(session, zone, coming=False))
        else:
            blocks.append(_empty("No open sessions in the next two weeks."))

    blocks.extend([divider(), section("*:bar_chart: This week's top problems*")])
    if home.top:
        lines = [_top_line(rank, p) for rank, p in enumerate(home.top[:5], 1)]
        blocks.append(section("\n".join(lines)))
        blocks.append(context("Distinct customers in the last 7 days, against the 7 days before."))
    else:
        blocks.append(_empty("No customer issues in the last 7 days."))

    blocks.extend([divider(), section("*:rocket: Upcoming releases*")])
    if home.releases:
        for release in home.releases[:8]:
            when = slack_time(release.release_at, zone)
            summary = f"\n{escape(truncate(release.summary, 200))}" if release.summary else ""
            blocks.append(section(f"*{escape(truncate(release.version, 100))}* · {when}{summary}"))
    else:
        blocks.append(_empty("No releases announced."))
    return {"type": "home", "blocks": blocks[:HOME_BLOCKS_MAX]}


_STATE: dict[str, str] = {
    EscalationState.PENDING: "being filed in Jira",
    EscalationState.FAILED: "Jira refused it: see the card to retry",
}


def _escalated_line(item: Escalated) -> str:
    title = f"*#{item.issue_id}* {escape(truncate(item.subject, 150))}"
    if item.jira_key:
        key = escape(item.jira_key)
        key = f"<{item.jira_url}|{key}>" if item.jira_url else key
        status = escape(item.jira_status or "status unknown")
        if item.jira_resolution:
            status += f" ({escape(item.jira_resolution)})"
        jira = f"{key} · {status}"
    else:
        jira = _STATE.get(item.state, item.state)
    people = f"{item.customers} customer{'s' if item.customers != 1 else ''}"
    return f"{title}\n{jira} · {people}"


def _top_line(rank: int, problem: TopProblem) -> str:
    title = escape(truncate(problem.subject, 120))
    where = f" · #{problem.issue_id}" if problem.issue_id else ""
    jira = (
        f" · {escape(problem.jira_key)} {escape(problem.jira_status or '')}".rstrip()
        if problem.jira_key
        else ""
    )
    return (
        f"{rank}. *{title}* · {plural(problem.customers, 'customer')} "
        f"({change(problem.customers, problem.customers_before)}){jira}{where}"
    )
