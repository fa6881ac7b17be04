"""Views of release announcements: the `/release new` modal and its confirmation, `/release list`, and
the heads-up, release-day and post-release watch posts. Pure: values in, blocks and fallback text out.

Every text a person typed (version, summary, highlights, customer names, subjects) is escaped and
bounded; posts stay well under Slack's 50 blocks.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import ReleasesConfig
from bot.domain.releases import AreaCount, FixedProblem, ReleaseSummary, WatchReport
from bot.ids import INPUT, Action, Block, Callback
from bot.views.blocks import (
    Blocks,
    actions,
    context,
    divider,
    escape,
    header,
    link_button,
    plain,
    section,
    slack_time,
    truncate,
)
from bot.views.report_modal import text_input
from bot.when import format_duration, local_time

VERSION_MAX = 128
SUMMARY_MAX = 3000
HIGHLIGHTS_MAX = 3000
LINK_MAX = 2000
CHANNELS_MAX = 10
HIGHLIGHTS_SHOWN = 15
PROBLEMS_LISTED = 30  # one block each; the rest is counted ("and N more")
PROBLEMS_IN_HEADS_UP = 5
NAMES_LISTED = 10
AREAS_LISTED = 20
LISTED = 10

RELEASE_USAGE = (
    "*Release announcements*\n"
    "• `/release new` — announce a release: a heads-up before it, a post on the day with the customer "
    "problems it fixes and who to tell, and a watch of complaints afterwards\n"
    "• `/release list` — upcoming releases and those of the last 30 days (only you see it)\n"
    "• `/release help` — this help"
)


def unknown_release_subcommand(word: str) -> str:
    return f"I don't know `/release {escape(word)[:40]}`.\n\n{RELEASE_USAGE}"


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    """Plain text in the configured zone, for notification fallbacks: "Tue 24 Nov 10:00"."""
    return local_time(moment, zone)


def when(moment: datetime, zone: ZoneInfo) -> str:
    """A date each reader sees in their own time zone (the configured zone's text as the fallback)."""
    return slack_time(moment, zone, "{date_short_pretty} at {time}")


# -- the modal ----------------------------------------------------------------------------------------


def render_release_modal(zone: ZoneInfo, default_time: time, default_channels: list[str]) -> dict[str, Any]:
    channels: dict[str, Any] = {
        "type": "multi_conversations_select",
        "action_id": INPUT,
        "max_selected_items": CHANNELS_MAX,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if default_channels:
        channels["initial_conversations"] = default_channels[:CHANNELS_MAX]
    return {
        "type": "modal",
        "callback_id": Callback.RELEASE_MODAL,
        "title": plain("New release", 24),
        "submit": plain("Schedule", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            text_input(Block.RELEASE_VERSION, "Version", max_length=VERSION_MAX, placeholder="e.g. 2.4.0"),
            {
                "type": "input",
                "block_id": Block.RELEASE_DATE,
                "label": plain("Release date", 2000),
                "element": {"type": "datepicker", "action_id": INPUT},
            },
            {
                "type": "input",
                "block_id": Block.RELEASE_TIME,
                "label": plain("Time", 2000),
                "element": {
                    "type": "timepicker",
                    "action_id": INPUT,
                    "initial_time": f"{default_time:%H:%M}",
                },
                "hint": plain(f"Time in {zone.key}, the team's time zone.", 2000),
            },
            text_input(
                Block.RELEASE_SUMMARY,
                "Summary: what ships",
                multiline=True,
                optional=True,
                max_length=SUMMARY_MAX,
            ),
            text_input(
                Block.RELEASE_HIGHLIGHTS,
                "Highlights: what support should know",
                multiline=True,
                optional=True,
                max_length=HIGHLIGHTS_MAX,
                hint="One per line; each becomes a bullet.",
            ),
            {
                "type": "input",
                "block_id": Block.RELEASE_LINK,
                "label": plain("Link to the release notes", 2000),
                "optional": True,
                "element": {"type": "url_text_input", "action_id": INPUT},
            },
            {
                "type": "input",
                "block_id": Block.RELEASE_CHANNELS,
                "label": plain("Announce in", 2000),
                "element": channels,
                "hint": plain("The heads-up, the release-day post and the watch go to each channel.", 2000),
            },
        ],
    }


def render_release_scheduled(
    release: ReleaseSummary, heads_up_at: datetime, watch_at: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """What the modal turns into once the release is stored."""
    where = ", ".join(f"<#{c}>" for c in release.channels)
    steps = [
        f"• a heads-up {when(heads_up_at, zone)}",
        f"• the release-day post {when(release.release_at, zone)}",
        f"• the post-release watch {when(watch_at, zone)}",
    ]
    text = (
        f":white_check_mark: *{escape(truncate(release.version, VERSION_MAX))}* is scheduled for "
        f"{when(release.release_at, zone)}.\nIn {where}:\n" + "\n".join(steps)
    )
    return {
        "type": "modal",
        "callback_id": Callback.RELEASE_MODAL,
        "title": plain("Release scheduled", 24),
        "close": plain("Done", 24),
        "blocks": [section(text, verbatim=True)],
    }


# -- /release list ------------------------------------------------------------------------------------


def _list_line(release: ReleaseSummary, zone: ZoneInfo) -> str:
    parts = [f"*{escape(truncate(release.version, 80))}*", when(release.release_at, zone)]
    if release.channels:
        parts.append(", ".join(f"<#{c}>" for c in release.channels[:3]))
    if release.source == "jira":
        parts.append(f"from Jira {escape(release.jira_project or '')}".rstrip())
    return "• " + " · ".join(parts)


def render_release_list(
    upcoming: list[ReleaseSummary], recent: list[ReleaseSummary], zone: ZoneInfo
) -> tuple[Blocks, str]:
    coming = "\n".join(_list_line(r, zone) for r in upcoming[:LISTED])
    past = "\n".join(_list_line(r, zone) for r in recent[:LISTED])
    blocks: Blocks = [
        section(
            "*Upcoming releases*\n" + (coming or "_None scheduled._ Add one with `/release new`."),
            verbatim=True,
        ),
        section("*Released in the last 30 days*\n" + (past or "_None._"), verbatim=True),
    ]
    text = f"{len(upcoming)} upcoming release(s), {len(recent)} in the last 30 days"
    return blocks, text


# -- the posts ----------------------------------------------------------------------------------------


def _highlights(release: ReleaseSummary) -> list[str]:
    lines = [line.strip().lstrip("•*-").strip() for line in (release.highlights or "").splitlines()]
    return [line for line in lines if line]


def _about(release: ReleaseSummary) -> Blocks:
    """Summary, highlights and the link: what ships."""
    blocks: Blocks = []
    if release.summary:
        blocks.append(section(escape(truncate(release.summary, SUMMARY_MAX - 100)), verbatim=True))
    highlights = _highlights(release)
    if highlights:
        bullets = [f"• {escape(truncate(line, 300))}" for line in highlights[:HIGHLIGHTS_SHOWN]]
        if len(highlights) > HIGHLIGHTS_SHOWN:
            bullets.append(f"… and {len(highlights) - HIGHLIGHTS_SHOWN} more")
        blocks.append(section("*Highlights*\n" + "\n".join(bullets), verbatim=True))
    if release.link and release.link.startswith(("https://", "http://")):
        blocks.append(actions([link_button("Release notes", release.link, Action.OPEN_RELEASE_LINK)]))
    return blocks


def _origin(release: ReleaseSummary) -> str:
    if release.source == "jira":
        return f"From Jira version {escape(truncate(release.version, 80))}" + (
            f" in {escape(release.jira_project)}" if release.jira_project else ""
        )
    return "Announced with `/release new`"


def _key(problem: FixedProblem) -> str:
    key = escape(problem.jira_key)
    if problem.jira_url and problem.jira_url.startswith(("https://", "http://")):
        return f"<{problem.jira_url}|{key}>"
    return key


def _card(problem: FixedProblem) -> str:
    if problem.card_permalink and problem.card_permalink.startswith("https://"):
        return f"<{problem.card_permalink}|#{problem.issue_id}>"
    if problem.card_channel:
        return f"#{problem.issue_id} in <#{problem.card_channel}>"
    return f"#{problem.issue_id}"


def _waiting(problems: list[FixedProblem]) -> int:
    return sum(len(p.to_tell) for p in problems)


def render_heads_up(
    release: ReleaseSummary, problems: list[FixedProblem], zone: ZoneInfo
) -> tuple[Blocks, str]:
    version = escape(truncate(release.version, VERSION_MAX))
    blocks: Blocks = [
        header(f":package: Coming up: {truncate(release.version, 100)}"),
        section(f"*{version}* ships {when(release.release_at, zone)}.", verbatim=True),
        *_about(release),
    ]
    if problems:
        shown = [
            f"• {_key(p)} {escape(truncate(p.subject, 150))} · {_card(p)} · {p.customers} customer(s)"
            for p in problems[:PROBLEMS_IN_HEADS_UP]
        ]
        if len(problems) > PROBLEMS_IN_HEADS_UP:
            shown.append(f"… and {len(problems) - PROBLEMS_IN_HEADS_UP} more")
        blocks.append(
            section(
                f"*What support should know:* it fixes {len(problems)} customer problem(s); "
                f"{_waiting(problems)} customer(s) are still to be told. The release-day post lists them.\n"
                + "\n".join(shown),
                verbatim=True,
            )
        )
    else:
        blocks.append(
            section(
                f"*What support should know:* no escalated customer problem has fix version *{version}* "
                "in Jira yet.",
                verbatim=True,
            )
        )
    blocks.append(context(_origin(release)))
    text = truncate(f"Coming up: {release.version} ships {local_text(release.release_at, zone)}", 300)
    return blocks, escape(text)


def _problem_block(problem: FixedProblem) -> dict[str, Any]:
    line = f"{_key(problem)} · {escape(truncate(problem.subject, 200))} · {_card(problem)}"
    if not problem.to_tell:
        who = f":white_check_mark: all {problem.customers} customer(s) told"
    else:
        names = [escape(truncate(name, 100)) for name in problem.to_tell[:NAMES_LISTED]]
        more = len(problem.to_tell) - NAMES_LISTED
        listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
        who = f"To tell ({len(problem.to_tell)} of {problem.customers}): {listed}"
    return section(f"{line}\n{who}", verbatim=True)


def render_release_day(
    release: ReleaseSummary, problems: list[FixedProblem], watch: ReleasesConfig, zone: ZoneInfo
) -> tuple[Blocks, str]:
    version = escape(truncate(release.version, VERSION_MAX))
    blocks: Blocks = [
        header(f":rocket: Released: {truncate(release.version, 100)}"),
        section(f"*{version}* is out ({when(release.release_at, zone)}).", verbatim=True),
        *_about(release),
        divider(),
    ]
    if problems:
        blocks.append(
            section(
                f"*Customer problems fixed: {len(problems)}* · customers to tell: *{_waiting(problems)}* "
                "(close the loop on each card's thread with *Mark notified*)",
                verbatim=True,
            )
        )
        blocks.extend(_problem_block(p) for p in problems[:PROBLEMS_LISTED])
        if len(problems) > PROBLEMS_LISTED:
            blocks.append(
                context(f"… and {len(problems) - PROBLEMS_LISTED} more problems fixed in {version}.")
            )
    else:
        blocks.append(
            section(f"No escalated customer problem has fix version *{version}* in Jira.", verbatim=True)
        )
    blocks.append(
        context(
            f"{_origin(release)} · complaints are compared in this thread "
            f"{format_duration(watch.watch)} after the release."
        )
    )
    text = (
        f"Released: {release.version}: {len(problems)} customer problem(s) fixed, "
        f"{_waiting(problems)} to tell"
    )
    return blocks, escape(truncate(text, 300))


def _area_line(area: AreaCount) -> str:
    name = escape(truncate(area.area, 80)) if area.area else "_no area_"
    if area.rose:
        return f"• :chart_with_upwards_trend: *{name}*: {area.after} (before: {area.before}) — rose"
    return f"• {name}: {area.after} (before: {area.before})"


def rise_rule(rule: ReleasesConfig) -> str:
    return (
        f"An area rose when it had at least {rule.rise_min} new complaints since the release and at least "
        f"{rule.rise_ratio:g} times as many as in the same period before it."
    )


def render_watch(report: WatchReport, rule: ReleasesConfig) -> tuple[Blocks, str]:
    period = format_duration(report.period)
    version = escape(truncate(report.release.version, VERSION_MAX))
    risen = [a for a in report.areas if a.rose]
    intro = (
        f":mag: *Post-release watch — {version}*\nNew complaints in the {period} since the release: "
        f"*{report.after_total}* (the {period} before: {report.before_total})."
    )
    if risen:
        names = ", ".join(escape(truncate(a.area or "no area", 80)) for a in risen)
        intro += f"\n*Rose:* {names}."
    elif report.areas:
        intro += "\nNo product area rose."
    blocks: Blocks = [section(intro, verbatim=True)]
    if report.areas:
        lines = [_area_line(a) for a in report.areas[:AREAS_LISTED]]
        if len(report.areas) > AREAS_LISTED:
            lines.append(f"… and {len(report.areas) - AREAS_LISTED} more areas")
        blocks.append(section("*By product area* (since · before)\n" + "\n".join(lines), verbatim=True))
    else:
        blocks.append(section("No new complaints in either period.", verbatim=True))
    blocks.append(context(rise_rule(rule)))
    text = f"Post-release watch for {report.release.version}: {len(risen)} area(s) rose"
    return blocks, escape(truncate(text, 300))


def render_release_cancelled(release: ReleaseSummary, zone: ZoneInfo) -> tuple[Blocks, str]:
    """An announced release that no longer happens (its Jira version was deleted or lost its date)."""
    version = escape(truncate(release.version, VERSION_MAX))
    blocks: Blocks = [
        section(
            f":no_entry_sign: *{version}* is no longer scheduled "
            f"(it was planned for {when(release.release_at, zone)}).",
            verbatim=True,
        ),
        context(_origin(release)),
    ]
    return blocks, escape(truncate(f"{release.version} is no longer scheduled", 300))
