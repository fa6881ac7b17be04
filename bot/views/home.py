"""The App Home tab: each person's cockpit. Pure: data in, a Home view out (at most 100 blocks).

Sections: for members of `leads_group`, the lead view (open backlog by age, SLA breaches this week,
unclaimed urgent problems); the issues you claimed, the problems you escalated with their Jira status,
your shadowing sessions (cancel, offer) and open sessions to sign up for, this week's top problems, and
upcoming releases. Every section says so plainly when it is empty. Issues and problems link to their
cards (`links`: issue id to the card's permalink, when known); a problem Jira resolved as won't do shows
as won't do, never as a fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.escalation import EscalationState
from bot.domain.home import Escalated, Home, LeadView, TopProblem
from bot.views import shadowing as shadow_views
from bot.views.blocks import Blocks, context, divider, escape, header, plural, section, slack_time, truncate
from bot.views.digest import change

HOME_BLOCKS_MAX = 100


def _empty(text: str) -> dict[str, Any]:
    return context(text)


def _linked(title: str, issue_id: int | None, links: Mapping[int, str]) -> str:
    """An escaped title, linked to its card when the card's permalink is known."""
    link = links.get(issue_id) if issue_id is not None else None
    return f"<{link}|{title}>" if link and link.startswith("https://") else title


def render_home(home: Home, zone: ZoneInfo, links: Mapping[int, str] | None = None) -> dict[str, Any]:
    links = links or {}
    blocks: Blocks = [header("Supportbridge")]
    blocks.append(
        context("Customer issues, shadowing and releases at a glance. This page refreshes as things change.")
    )
    if home.lead is not None:
        blocks.extend(_lead_blocks(home.lead, zone, links))

    blocks.extend([divider(), section("*:ticket: Issues you're on*")])
    if home.claimed:
        for issue in home.claimed[:10]:
            blocks.append(
                section(
                    f"*#{issue.id}* {_linked(escape(truncate(issue.subject, 150)), issue.id, links)} · "
                    f"{escape(issue.severity)} · <#{issue.channel}>"
                )
            )
    else:
        blocks.append(_empty("Nothing claimed. Use *I'm on it* on a card to take an issue."))

    blocks.extend([divider(), section("*:outbox_tray: Problems you escalated*")])
    if home.escalated:
        blocks.extend(section(_escalated_line(e, links)) for e in home.escalated[:8])
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
        lines = [_top_line(rank, p, links) for rank, p in enumerate(home.top[:5], 1)]
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


def _escalated_line(item: Escalated, links: Mapping[int, str]) -> str:
    title = f"*#{item.issue_id}* {_linked(escape(truncate(item.subject, 150)), item.issue_id, links)}"
    if item.jira_key:
        key = escape(item.jira_key)
        key = f"<{item.jira_url}|{key}>" if item.jira_url else key
        status = escape(item.jira_status or "status unknown")
        if item.wont_do:  # a decision not to do it: never shown as Done or a fix
            status = ":no_entry_sign: won't do"
        elif item.jira_resolution:
            status += f" ({escape(item.jira_resolution)})"
        jira = f"{key} · {status}"
    else:
        jira = _STATE.get(item.state, item.state)
    people = f"{item.customers} customer{'s' if item.customers != 1 else ''}"
    return f"{title}\n{jira} · {people}"


def _top_line(rank: int, problem: TopProblem, links: Mapping[int, str]) -> str:
    title = _linked(escape(truncate(problem.subject, 120)), problem.issue_id, links)
    where = f" · #{problem.issue_id}" if problem.issue_id else ""
    jira = ""
    if problem.jira_key and problem.wont_do:
        jira = f" · {escape(problem.jira_key)} :no_entry_sign: won't do"
    elif problem.jira_key:
        jira = f" · {escape(problem.jira_key)} {escape(problem.jira_status or '')}".rstrip()
    return (
        f"{rank}. *{title}* · {plural(problem.customers, 'customer')} "
        f"({change(problem.customers, problem.customers_before)}){jira}{where}"
    )


def _lead_blocks(lead: LeadView, zone: ZoneInfo, links: Mapping[int, str]) -> Blocks:
    """The lead view: where the backlog stands, SLA breaches, and urgent problems nobody took."""
    blocks: Blocks = [divider(), section("*:busts_in_silhouette: Lead view*")]
    total = sum(n for _, n in lead.backlog)
    ages = " · ".join(f"{label}: {n}" for label, n in lead.backlog)
    blocks.append(section(f"*Open backlog by age* ({total})\n{ages}"))
    blocks.append(
        section(
            f"*SLA breaches in the last 7 days:* {lead.sla_breaches}"
            + ("" if lead.sla_breaches else " :white_check_mark:")
        )
    )
    if lead.unclaimed_urgent:
        lines = []
        for problem in lead.unclaimed_urgent:
            since = slack_time(problem.received_at, zone)
            title = _linked(escape(truncate(problem.subject, 120)), problem.issue_id, links)
            lines.append(f"• *#{problem.issue_id}* {title} · <#{problem.channel}> · since {since}")
        more = lead.unclaimed_urgent_total - len(lead.unclaimed_urgent)
        if more > 0:
            lines.append(f"and {more} more")
        blocks.append(
            section(
                f"*:rotating_light: Unclaimed urgent problems ({lead.unclaimed_urgent_total})*\n"
                + "\n".join(lines)
            )
        )
    else:
        blocks.append(_empty("No unclaimed urgent problem."))
    return blocks
