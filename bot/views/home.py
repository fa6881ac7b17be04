"""The App Home tab: each person's cockpit. Pure: data in, a Home view out (at most 100 blocks).

Sections: your shadowing sessions (cancel, offer), open sessions to sign up for, the issues you
claimed, and upcoming releases. Every section says so plainly when it is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.services.shadowing import Session
from bot.views import shadowing as shadow_views
from bot.views.blocks import Blocks, context, divider, escape, header, section, slack_date, truncate

HOME_BLOCKS_MAX = 100


@dataclass(frozen=True)
class ClaimedIssue:
    id: int
    subject: str
    channel: str
    severity: str


@dataclass(frozen=True)
class UpcomingRelease:
    version: str
    release_at_unix: int
    fallback: str
    summary: str | None


@dataclass
class Home:
    user: str
    mine: list[tuple[Session, str]] = field(default_factory=list)
    open_sessions: list[Session] = field(default_factory=list)
    claimed: list[ClaimedIssue] = field(default_factory=list)
    releases: list[UpcomingRelease] = field(default_factory=list)
    shadowing_enabled: bool = False


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

    blocks.extend([divider(), section("*:rocket: Upcoming releases*")])
    if home.releases:
        for release in home.releases[:8]:
            when = slack_date(release.release_at_unix, release.fallback, "{date_short_pretty} {time}")
            summary = f"\n{escape(truncate(release.summary, 200))}" if release.summary else ""
            blocks.append(section(f"*{escape(truncate(release.version, 100))}* · {when}{summary}"))
    else:
        blocks.append(_empty("No releases announced."))
    return {"type": "home", "blocks": blocks[:HOME_BLOCKS_MAX]}


def releases_of(rows: Sequence[Any], zone: ZoneInfo) -> list[UpcomingRelease]:
    return [
        UpcomingRelease(
            version=r.version,
            release_at_unix=int(r.release_at.timestamp()),
            fallback=r.release_at.astimezone(zone).strftime("%a %d %b %H:%M"),
            summary=r.summary,
        )
        for r in rows
    ]
