"""`/release new`, `/release list` and the new-release modal. Thin: ack, parse into a `ReleaseDraft`,
call the releases service, render. The posts themselves are enqueued by `send_due_posts` in
`bot/services/releases.py`.

Who may announce a release: anyone in `admins` (users, or members of its user groups) when admins
are configured, else anyone. The same check runs when the modal is opened and when it is submitted.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.config import CHANNEL_ID
from bot.ids import Block, Callback
from bot.people import REQUEST_BUDGET_SECONDS, People
from bot.runtime import Runtime
from bot.services.releases import (
    ReleaseDraft,
    heads_up_at,
    recent_releases,
    store_release,
    upcoming_releases,
    watch_at,
)
from bot.views.releases import (
    LINK_MAX,
    RELEASE_USAGE,
    VERSION_MAX,
    render_release_list,
    render_release_modal,
    render_release_scheduled,
    unknown_release_subcommand,
)
from bot.when import local_at
from db.models import utcnow
from handlers import payload
from handlers.common import Refused, perform, runtime_of

log = logging.getLogger(__name__)

# Slack wants an answer within 3 s, and a modal can only be opened within 3 s of the command.
STORE_SECONDS = 1.5
UNAVAILABLE = "Couldn't save it in time (database slow or unavailable). Check `/release list`, then retry."
NOT_CHECKED = "I couldn't check who may announce releases (Slack did not answer). Try again in a moment."
ADMINS_ONLY = "Only the Supportbridge admins can announce releases."


def not_allowed(admins: list[str]) -> str:
    named = ", ".join(f"<!subteam^{a}>" if a.startswith("S") else f"<@{a}>" for a in admins[:5])
    return f"{ADMINS_ONLY[:-1]} ({named}). Ask one of them, or see what is coming with `/release list`."


async def refusal(admins: list[str], user: str, people: People) -> str | None:
    """Why `user` may not announce a release, or None when they may (user groups are expanded
    through Slack and remembered a few minutes, so the modal's submission asks no one again)."""
    if not admins:
        return None
    try:
        if await people.includes(admins, user, within=REQUEST_BUDGET_SECONDS):
            return None
    except TimeoutError:
        log.warning("release admins not checked: Slack user groups did not answer in time")
        return NOT_CHECKED
    return not_allowed(admins)


# -- the modal's answers --------------------------------------------------------------------------------


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _time(value: Any) -> time | None:
    try:
        return time.fromisoformat(value) if isinstance(value, str) and len(value) == 5 else None
    except ValueError:
        return None


def _is_web_link(link: str) -> bool:
    parts = urlsplit(link)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(link) <= LINK_MAX


def parse_release_submission(
    view: payload.View, zone: ZoneInfo, now: datetime
) -> ReleaseDraft | dict[str, str]:
    """The modal's values as a draft, or Slack `errors` keyed by block id."""
    version = " ".join((view.input(Block.RELEASE_VERSION).stripped or "").split())
    day = _day(view.input(Block.RELEASE_DATE).date)
    at = _time(view.input(Block.RELEASE_TIME).time)
    link = view.input(Block.RELEASE_LINK).stripped
    channels = tuple(dict.fromkeys(view.input(Block.RELEASE_CHANNELS).conversations))
    errors: dict[str, str] = {}
    if not version:
        errors[Block.RELEASE_VERSION] = "Name the version, like 2.4.0."
    elif len(version) > VERSION_MAX:
        errors[Block.RELEASE_VERSION] = f"At most {VERSION_MAX} characters."
    if day is None:
        errors[Block.RELEASE_DATE] = "Pick the release date."
    if at is None:
        errors[Block.RELEASE_TIME] = "Pick the release time."
    if link and not _is_web_link(link):
        errors[Block.RELEASE_LINK] = "Give a web link starting with https:// (or http://)."
    if not channels:
        errors[Block.RELEASE_CHANNELS] = "Pick at least one channel to announce it in."
    elif not all(CHANNEL_ID.match(c) for c in channels):
        errors[Block.RELEASE_CHANNELS] = "Pick channels, not people."
    if day is not None and at is not None:
        release_at = local_at(day, at, zone)
        if release_at <= now:
            block = Block.RELEASE_TIME if day == now.astimezone(zone).date() else Block.RELEASE_DATE
            errors[block] = f"That is in the past ({zone.key} time): pick a moment ahead."
    if errors:
        return errors
    assert day is not None and at is not None
    return ReleaseDraft(
        version=version,
        release_at=local_at(day, at, zone),
        summary=view.input(Block.RELEASE_SUMMARY).stripped,
        highlights=view.input(Block.RELEASE_HIGHLIGHTS).stripped,
        link=link,
        channels=channels,
    )


async def open_new_release(runtime: Runtime, ack: AsyncAck, command: payload.Command) -> None:
    config = runtime.config
    assert runtime.slack is not None
    reason = await refusal(config.admins, command.user_id, runtime.people)
    if reason:
        await ack(text=reason)
        return
    await ack()
    default = [config.channels.releases] if config.channels.releases else []
    view = render_release_modal(config.zone, config.releases.release_time, default)
    await runtime.slack.open_view(command.require_trigger(), view)


async def list_releases(runtime: Runtime, ack: AsyncAck) -> None:
    now = utcnow()
    loaded = await perform(
        runtime,
        lambda conn: (upcoming_releases(conn, now), recent_releases(conn, now)),
        what="release_list",
        unavailable="Releases are unavailable right now (database unavailable). Try again shortly.",
    )
    if isinstance(loaded, Refused):
        await ack(text=loaded.text)
        return
    upcoming, recent = loaded
    blocks, text = render_release_list(upcoming, recent, runtime.config.zone)
    await ack(text=text, blocks=blocks)  # a command's answer is seen only by who asked


async def release_command(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    command = payload.Command.from_body(body)
    words = command.words
    sub = words[0].lower() if words else "help"
    if sub == "new":
        await open_new_release(runtime, ack, command)
    elif sub == "list":
        await list_releases(runtime, ack)
    elif sub == "help":
        await ack(text=RELEASE_USAGE)
    else:
        await ack(text=unknown_release_subcommand(sub))


async def release_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    config = runtime.config
    view = payload.View.from_body(body)
    user = view.user_id
    now = utcnow()
    parsed = parse_release_submission(view, config.zone, now)
    if isinstance(parsed, dict):
        await ack(response_action="errors", errors=parsed)
        return
    reason = await refusal(config.admins, user, runtime.people)
    if reason:
        shown = reason if reason == NOT_CHECKED else ADMINS_ONLY
        await ack(response_action="errors", errors={Block.RELEASE_VERSION: shown})
        return
    draft = parsed
    release = await perform(
        runtime,
        lambda conn: store_release(conn, draft, user, view.view_id or "", config, now),
        what="release_new",
        unavailable=UNAVAILABLE,
        within=STORE_SECONDS,
    )
    if isinstance(release, Refused):
        await ack(response_action="errors", errors={Block.RELEASE_VERSION: release.text})
        return
    if release is None:
        await ack()  # Slack sent the same submission again: it is stored already
        return
    # A heads-up whose time has passed already goes out at the next check.
    heads_up = max(heads_up_at(release.release_at, config), now)
    scheduled = render_release_scheduled(release, heads_up, watch_at(release.release_at, config), config.zone)
    await ack(response_action="update", view=scheduled)
    log.info("release scheduled", extra={"release": release.id, "channels": len(release.channels)})


def register(app: AsyncApp) -> None:
    app.command("/release")(release_command)
    app.view(Callback.RELEASE_MODAL)(release_submitted)
