"""Outbox work for shadowing: telling a session's hosts (user groups are expanded when sent) and the
renderers of posts that show current seats (the weekly post), stored answers (feedback), or a session
(or first-week plan) as it was when the message was asked for (direct messages, swap posts)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.deliveries.policy import slack_outcome
from bot.deliveries.posts import PostDeliveries, Renderer
from bot.domain.outbox import PostRenderer, ShadowDmControls, ShadowListRefresh, TellHosts
from bot.domain.shadowing import BOOKED, WAITLISTED, DmState, Session, decode_plan, decode_session
from bot.people import People
from bot.services import outbox
from bot.services import shadowing as svc
from bot.services.posts import enqueue_post
from bot.views import shadowing as views
from db.models import issues, problems, shadow_bookings, utcnow
from db.session import Database
from integrations.slack import ResponseUrlGone, SlackGateway, SlackTransientError

log = logging.getLogger(__name__)


class ShadowDeliveries:
    def __init__(
        self, database: Database, config: AppConfig, people: People, slack: SlackGateway | None = None
    ) -> None:
        self.database = database
        self.config = config
        self.people = people
        self.slack = slack

    def register(self, deliverer: outbox.Deliverer, posts: PostDeliveries) -> None:
        deliverer.register(TellHosts, self.tell_hosts)
        deliverer.register(ShadowListRefresh, self.refresh_list)
        deliverer.register(ShadowDmControls, self.refresh_dm_controls)
        posts.add_renderer(PostRenderer.SHADOW_WEEK, self.render_week)
        posts.add_renderer(PostRenderer.SHADOW_FEEDBACK, self.render_feedback)
        for name in SNAPSHOT_VIEWS:
            posts.add_renderer(name, _snapshot_renderer(name, self.config.zone))
        posts.add_renderer(PostRenderer.SHADOW_DM_STATE, self.render_dm_state)
        for name, expected in CONTROLLED_DMS.items():
            posts.add_renderer(name, self._controlled_renderer(name, expected))

    async def refresh_list(self, payload: ShadowListRefresh) -> None:
        """The `/shadow` list someone clicked on, replaced by the list as it is now. Replacing is
        idempotent: a retry after an unknown outcome sends the same message again, harmlessly. A URL
        Slack no longer takes (older than 30 minutes, used five times) leaves the list as it was."""
        if self.slack is None:
            return
        config, user = self.config, payload.user
        now = utcnow()
        mine, open_ = await self.database.transaction(
            lambda conn: (svc.sessions_of(conn, config, user, now), svc.open_sessions(conn, config, now))
        )
        blocks, text = views.session_list(user, mine, open_, config.zone, notice=payload.notice or None)
        try:
            await self.slack.replace_original(payload.response_url, text, blocks)
        except ResponseUrlGone as exc:
            log.info("shadow list not updated: its response URL is gone", extra={"reason": str(exc)})
        except SlackTransientError as exc:
            raise outbox.RetryLater(f"response URL: {exc}", exc.retry_after) from exc

    async def refresh_dm_controls(self, payload: ShadowDmControls) -> None:
        """Update a clicked DM in place: each session's controls as they apply now. The same update
        sent twice (a retry after an unknown outcome) changes nothing."""
        if self.slack is None:
            return
        wanted: dict[int, str] = {}
        for block in payload.blocks:
            match = (
                SESSION_CONTROLS.match(str(block.get("block_id") or ""))
                if block.get("type") == "actions"
                else None
            )
            if match:
                wanted[int(match[2])] = match[1]
        if not wanted:
            return
        config, user = self.config, payload.user

        def load(conn: Connection) -> dict[int, DmState] | None:
            if svc.is_session_dm(conn, payload.channel, payload.ts):
                return None  # a DM about one session: re-rendered whole (`refresh_dms`)
            states = {sid: svc.dm_state(conn, config, sid, user) for sid in wanted}
            return {sid: state for sid, state in states.items() if state is not None}

        states = await self.database.transaction(load)
        if states is None:
            return
        blocks: list[dict[str, Any]] = []
        for block in payload.blocks:
            match = (
                SESSION_CONTROLS.match(str(block.get("block_id") or ""))
                if block.get("type") == "actions"
                else None
            )
            state = states.get(int(match[2])) if match else None
            blocks.append(views.controls_now(state, match[1]) if match and state else block)
        if blocks == payload.blocks:
            return
        with slack_outcome():
            await self.slack.update_message(payload.channel, payload.ts, payload.text, blocks)

    async def render_dm_state(self, args: dict[str, Any]) -> views.Rendered | None:
        session_id, user = int(args["session"]), str(args["user"])
        state = await self.database.transaction(
            lambda conn: svc.dm_state(conn, self.config, session_id, user)
        )
        if state is None:
            return None
        return views.dm_state(state, self.config.zone, prompt=bool(args.get("prompt")))

    def _controlled_renderer(self, name: PostRenderer, expected: str | None) -> Renderer:
        """A DM with controls that waited in the outbox while the state changed (the booking was
        cancelled, the seat taken, the session cancelled, the feedback given) is sent as the state is
        now, without the controls that no longer apply."""
        zone = self.config.zone

        async def renderer(args: dict[str, Any]) -> views.Rendered | None:
            user = args.get("user")
            if not isinstance(user, str):  # asked for by an earlier version: its snapshot, as before
                return render_snapshot(name, args, zone)
            session_id = int(args["session"]["id"])
            state = await self.database.transaction(
                lambda conn: svc.dm_state(conn, self.config, session_id, user)
            )
            if state is None:
                return None
            prompt = name == PostRenderer.SHADOW_FEEDBACK_PROMPT
            still = (
                not state.feedback_given
                if prompt
                else state.status == expected
                and state.session.status == "scheduled"
                and state.session.starts_at > state.now
            )
            if still:
                return render_snapshot(name, args, zone)
            return views.dm_state(state, zone, prompt=prompt)

        return renderer

    async def tell_hosts(self, payload: TellHosts) -> None:
        """One direct message per host, enqueued together (a retry never repeats a sent one)."""
        session_id = payload.session
        try:
            session = await self.database.transaction(
                lambda conn: svc.load_session(conn, self.config, session_id)
            )
        except svc.ShadowError:
            return
        hosts = await self.people.expand(session.hosts)
        what = payload.what
        if what == "reminder":
            rendered = views.reminder(
                session, self.config.zone, timedelta(minutes=payload.lead_minutes or 0), host=True
            )
        else:
            rendered = views.host_note(
                session, self.config.zone, what, payload.user or "", {"from": payload.swapped_from}
            )
        blocks, text = rendered

        def enqueue(conn: Connection) -> None:
            for host in hosts:
                if host != payload.user:
                    enqueue_post(conn, channel=host, text=text, blocks=blocks)

        await self.database.transaction(enqueue)

    async def render_week(self, args: dict[str, Any]) -> views.Rendered | None:
        programme = self.config.shadowing.programme(str(args["programme"]))
        if programme is None:
            return None
        start = datetime.fromisoformat(str(args["from"]))
        sessions = await self.database.transaction(
            lambda conn: svc.sessions_between(
                conn, self.config, start, start + timedelta(days=7), programme=programme.id
            )
        )
        return views.week_post(programme.name, sessions, self.config.zone, programme.where)

    async def render_feedback(self, args: dict[str, Any]) -> views.Rendered | None:
        session_id, user = int(args["session"]), str(args["user"])

        def load(conn: Connection) -> tuple[Session, Any, list[tuple[int, str]]] | None:
            session = svc.load_session(conn, self.config, session_id)
            feedback = conn.execute(
                select(shadow_bookings.c.feedback).where(
                    shadow_bookings.c.session_id == session_id, shadow_bookings.c.user_id == user
                )
            ).scalar()
            if not feedback:
                return None
            ids = [int(p) for p in feedback.get("problems") or []]
            rows = conn.execute(
                select(problems.c.id, problems.c.primary_issue_id, issues.c.subject)
                .join(issues, issues.c.id == problems.c.primary_issue_id)
                .where(problems.c.id.in_(ids))
            ).all()
            # Shown as the problem's card number (#primary issue), as on the cards themselves.
            shown = {r.id: (r.primary_issue_id, r.subject) for r in rows}
            return session, feedback, [shown[p] for p in ids if p in shown]

        loaded = await self.database.transaction(load)
        if loaded is None:
            return None
        session, feedback, seen = loaded
        return views.feedback_post(session, self.config.zone, user, str(feedback.get("learned") or ""), seen)


SESSION_CONTROLS = re.compile(r"^shadow\.(mine|session|suggested)\.(\d{1,9})$")


def _session_controls(block: dict[str, Any]) -> re.Match[str] | None:
    """A block of one session's controls: (kind, session id) from its block id."""
    if block.get("type") != "actions":
        return None
    return SESSION_CONTROLS.match(str(block.get("block_id") or ""))


# DMs whose controls act on the person's place in the session, and the place they assume.
CONTROLLED_DMS: dict[PostRenderer, str | None] = {
    PostRenderer.SHADOW_BOOKED: BOOKED,
    PostRenderer.SHADOW_WAITLISTED: WAITLISTED,
    PostRenderer.SHADOW_PROMOTED: BOOKED,
    PostRenderer.SHADOW_REMINDER: BOOKED,
    PostRenderer.SHADOW_FEEDBACK_PROMPT: None,
}

SnapshotView = Callable[[dict[str, Any], ZoneInfo], views.Rendered]


def _about_session(render: Callable[[Session, dict[str, Any], ZoneInfo], views.Rendered]) -> SnapshotView:
    return lambda args, zone: render(decode_session(args["session"]), args, zone)


# Posts rendered from what their payload carries (no database): a session's snapshot in
# `args["session"]`, a first-week plan in `args["plan"]`, a nudge's figures and open sessions.
SNAPSHOT_VIEWS: dict[PostRenderer, SnapshotView] = {
    PostRenderer.SHADOW_BOOKED: _about_session(lambda s, a, zone: views.booked(s, zone, a.get("by"))),
    PostRenderer.SHADOW_WAITLISTED: _about_session(
        lambda s, a, zone: views.waitlisted(s, zone, int(a["position"]))
    ),
    PostRenderer.SHADOW_PROMOTED: _about_session(lambda s, a, zone: views.promoted(s, zone)),
    PostRenderer.SHADOW_SWAP: _about_session(
        lambda s, a, zone: views.swap(s, zone, str(a["owner"]), int(a["booking"]), a.get("taken_by"))
    ),
    PostRenderer.SHADOW_SWAP_WITHDRAWN: _about_session(
        lambda s, a, zone: views.swap_withdrawn(s, zone, str(a["owner"]))
    ),
    PostRenderer.SHADOW_SEAT_TAKEN: _about_session(
        lambda s, a, zone: views.seat_taken(s, zone, str(a["taker"]))
    ),
    PostRenderer.SHADOW_SESSION_CANCELLED: _about_session(
        lambda s, a, zone: views.session_cancelled(s, zone, str(a["by"]))
    ),
    PostRenderer.SHADOW_REMINDER: _about_session(
        lambda s, a, zone: views.reminder(s, zone, timedelta(seconds=float(a["lead_seconds"])), host=False)
    ),
    PostRenderer.SHADOW_FEEDBACK_PROMPT: _about_session(lambda s, a, zone: views.feedback_prompt(s, zone)),
    PostRenderer.SHADOW_PLAN: lambda a, zone: views.plan(decode_plan(a["plan"]), zone, str(a["by"])),
    PostRenderer.SHADOW_NUDGE: lambda a, zone: views.nudge(
        float(a["done"]),
        float(a["target"]),
        str(a["label"]),
        [decode_session(s) for s in a["sessions"]],
        zone,
    ),
}


def render_snapshot(name: PostRenderer, args: dict[str, Any], zone: ZoneInfo) -> views.Rendered:
    """What a post rendered from its payload alone shows when it is sent."""
    return SNAPSHOT_VIEWS[name](args, zone)


def _snapshot_renderer(name: PostRenderer, zone: ZoneInfo) -> Renderer:
    async def renderer(args: dict[str, Any]) -> views.Rendered:
        return render_snapshot(name, args, zone)

    return renderer
