"""`/shadow`, the shadowing buttons (on the weekly post, in DMs and on the App Home), the feedback
modal and the App Home opening. Thin: parse, check who may, call the shadowing service, answer."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp
from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.config import Programme
from bot.domain.outbox import Ephemeral
from bot.ids import INPUT, Action, Block, Callback
from bot.people import REQUEST_BUDGET_SECONDS
from bot.runtime import Runtime
from bot.services import outbox
from bot.services import shadowing as svc
from bot.services.cards import problem_summaries
from bot.services.posts import enqueue_post
from bot.sla import parse_hh_mm
from bot.views import shadowing as views
from bot.views.blocks import decode_state, escape, section
from bot.when import local_at, parse_calendar_duration
from db.models import problems, utcnow
from db.session import DatabaseUnavailable
from handlers.common import state_of, where_clicked
from handlers.triage import OPTIONS_SHOWN, problem_options

log = logging.getLogger(__name__)
T = TypeVar("T")

USAGE = (
    "*Support shadowing*\n"
    "• `/shadow` — your sessions and open ones, with sign-up buttons\n"
    "• `/shadow join 12` — sign up for session #12\n"
    "• `/shadow stats` — hours per person and team this quarter\n"
    "• `/shadow onboard @person [YYYY-MM-DD]` — book a new hire's first week, one session a day\n"
    "• `/shadow add <programme> <YYYY-MM-DD> <HH:MM> [90m] [capacity 3] [where…]` — hosts and admins\n"
    "• `/shadow cancel 12` — hosts and admins cancel session #12; anyone else gives up their seat"
)
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
SESSION_REF = re.compile(r"^#?(\d{1,9})$")
NOT_CHECKED = "I couldn't check who hosts this programme (Slack did not answer). Try again in a moment."
UNAVAILABLE = "Couldn't do that right now (the database is unavailable). Please try again in a minute."


def _duration(word: str) -> timedelta | None:
    try:
        return parse_calendar_duration(word)
    except ValueError:
        return None


def _session_ref(word: str | None) -> int | None:
    match = SESSION_REF.match(word or "")
    return int(match[1]) if match else None


def register(app: AsyncApp, runtime: Runtime) -> None:
    config = runtime.config
    people = runtime.people
    zone = config.zone

    async def run(work: Callable[[Connection], T]) -> T | str:
        """Run service work in one transaction; a refusal or an outage comes back as the text to show."""
        try:
            result = await runtime.database.transaction(work)
        except svc.ShadowError as exc:
            return str(exc)
        except DatabaseUnavailable:
            log.warning("shadowing request not stored: database unavailable")
            return UNAVAILABLE
        runtime.deliverer.wake()
        return result

    async def tell(body: dict[str, Any], text: str) -> None:
        """A private answer to whoever clicked: ephemeral in a channel, a DM from the Home tab or a DM."""
        channel, user = where_clicked(body)
        if not user:
            return

        def enqueue(conn: Connection) -> None:
            if channel and not channel.startswith("D"):
                outbox.enqueue_in(conn, Ephemeral(channel=channel, user=user, text=text))
            else:
                enqueue_post(conn, channel=user, text=text, blocks=[section(text)])

        try:
            await runtime.database.transaction(enqueue)
        except DatabaseUnavailable:
            log.warning("shadowing answer not sent: database unavailable")
            return
        runtime.deliverer.wake()

    async def may_manage(user: str, programme: Programme) -> bool:
        """Admins and the programme's hosts; user groups are asked of Slack within the request's budget
        (raises TimeoutError past it)."""
        return await people.includes([*config.admins, *programme.hosts], user, within=REQUEST_BUDGET_SECONDS)

    # -- /shadow ------------------------------------------------------------------------------------------

    async def list_sessions(user: str) -> tuple[list[dict[str, Any]], str] | str:
        now = utcnow()
        loaded = await run(
            lambda conn: (svc.sessions_of(conn, config, user, now), svc.open_sessions(conn, config, now))
        )
        if isinstance(loaded, str):
            return loaded
        mine, open_ = loaded
        return views.session_list(user, mine, open_, zone)

    async def add(user: str, words: list[str]) -> str:
        if len(words) < 3:
            return "Usage: `/shadow add <programme> <YYYY-MM-DD> <HH:MM> [90m] [capacity 3] [where…]`"
        programme = config.shadowing.programme(words[0].lower())
        if programme is None:
            known = ", ".join(f"`{p.id}`" for p in config.shadowing.programmes) or "none configured"
            return f"No programme `{escape(words[0])}`. Programmes: {known}."
        try:
            allowed = await may_manage(user, programme)
        except TimeoutError:
            return NOT_CHECKED
        if not allowed:
            return f"Only hosts of {escape(programme.name)} and admins can add sessions."
        try:
            day = date.fromisoformat(words[1])
            at = parse_hh_mm(words[2])
        except ValueError as exc:
            return (
                f"Couldn't read the date and time ({escape(str(exc))}); write them like `2026-11-25 14:00`."
            )
        rest = words[3:]
        duration = programme.sessions[0].duration if programme.sessions else timedelta(hours=1)
        given = _duration(rest[0]) if rest else None
        if given is not None:
            duration, rest = given, rest[1:]
        capacity = None
        if len(rest) >= 2 and rest[0].lower() in ("capacity", "cap", "seats") and rest[1].isdigit():
            capacity, rest = max(1, min(100, int(rest[1]))), rest[2:]
        if not timedelta(minutes=5) <= duration <= timedelta(hours=12):
            return "A session lasts between 5 minutes and 12 hours."
        location = " ".join(rest)[:500] or None
        starts = local_at(day, at, zone)
        result = await run(
            lambda conn: svc.add_session(
                conn,
                config,
                programme,
                starts,
                duration,
                capacity=capacity,
                location=location,
                by=user,
                now=utcnow(),
            )
        )
        if isinstance(result, str):
            return result
        return f":white_check_mark: Added session #{result.id}: {escape(views.session_title(result, zone))}."

    async def cancel_command(user: str, words: list[str]) -> str:
        session_id = _session_ref(words[0] if words else None)
        if session_id is None:
            return "Which session? For example `/shadow cancel 12` (the number is shown as #12)."
        loaded = await run(lambda conn: svc.load_session(conn, config, session_id))
        if isinstance(loaded, str):
            return loaded
        programme = config.shadowing.programme(loaded.programme)
        try:
            manages = programme is not None and await may_manage(user, programme)
        except TimeoutError:
            return NOT_CHECKED
        if programme is not None and manages:
            result = await run(lambda conn: svc.cancel_session(conn, config, session_id, user, utcnow()))
            if isinstance(result, str):
                return result
            told = len(loaded.booked) + len(loaded.waitlisted)
            return f"Cancelled {escape(views.session_title(result, zone))}; {told} people told."
        if loaded.status_of(user) is not None:
            cancelled = await run(lambda conn: svc.cancel(conn, config, session_id, user, utcnow()))
            if isinstance(cancelled, str):
                return cancelled
            return f"You're no longer signed up for {escape(views.session_title(cancelled.session, zone))}."
        return "Only the session's hosts and admins can cancel a session, and you're not signed up for it."

    async def join(user: str, words: list[str]) -> str:
        session_id = _session_ref(words[0] if words else None)
        if session_id is None:
            return "Which session? For example `/shadow join 12`, or pick one from `/shadow`."
        signed = await run(lambda conn: svc.sign_up(conn, config, session_id, user, utcnow()))
        if isinstance(signed, str):
            return signed
        if signed.status == svc.WAITLISTED:
            return f"That session is full: you're #{signed.position} on the waitlist. Details in your DMs."
        return f":white_check_mark: You're booked for {escape(views.session_title(signed.session, zone))}."

    async def onboard(user: str, words: list[str]) -> str:
        match = MENTION.match(words[0]) if words else None
        if match is None:
            return "Who? For example `/shadow onboard @new.hire` (optionally a start date: `2026-11-30`)."
        person = match[1]
        today = utcnow().astimezone(zone).date()
        try:
            start = date.fromisoformat(words[1]) if len(words) > 1 else svc.next_working_day(config, today)
        except ValueError:
            return "Write the start date like `2026-11-30`."
        if start <= today:
            return "The plan must start after today."
        plan = await run(lambda conn: svc.onboard(conn, config, person, user, start, utcnow()))
        if isinstance(plan, str):
            return plan
        return (
            views.plan_summary(plan, zone) + "\nThe plan is in their DMs, with reminders before each session."
        )

    async def stats() -> tuple[list[dict[str, Any]], str] | str:
        fairness = config.shadowing.fairness
        if fairness is None:
            return (
                "Fairness isn't set up: add `shadowing.fairness` (a group and a target) to the configuration."
            )
        now = utcnow()
        start, end, label = svc.quarter_of(now, config)
        try:
            group = await people.expand(fairness.group, within=REQUEST_BUDGET_SECONDS)
            team_of: dict[str, str] = {}
            for team, members in fairness.teams.items():
                for member in await people.expand(members, within=REQUEST_BUDGET_SECONDS):
                    team_of.setdefault(member, team)
        except TimeoutError:
            return "Slack did not list the fairness group in time. Try again in a moment."
        hours = await run(lambda conn: svc.hours_by_person(conn, start, end, now, group))
        if isinstance(hours, str):
            return hours
        rows = []
        for member in group:
            have = hours.get(member, svc.Hours(0, 0))
            rows.append((member, team_of.get(member, "Other"), round(have.done, 1), round(have.booked, 1)))
        rows.sort(key=lambda r: (r[1], -(r[2] + r[3])))
        teams: dict[str, list[tuple[str, str, float, float]]] = {}
        for row in rows:
            teams.setdefault(row[1], []).append(row)
        summary = [
            (
                team,
                len(members),
                round(sum(m[2] for m in members), 1),
                sum(1 for m in members if m[2] + m[3] >= fairness.target_hours),
            )
            for team, members in sorted(teams.items())
        ]
        return views.stats(label, fairness.target_hours, rows, summary)

    @app.command("/shadow")
    async def shadow_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        words = str(command.get("text") or "").split()
        sub = words[0].lower() if words else "list"
        user = str(command["user_id"])
        if not config.shadowing.programmes and sub != "help":
            await ack(
                text="Shadowing isn't set up yet: an admin adds programmes under `shadowing` "
                "in the configuration."
            )
            return
        answer: tuple[list[dict[str, Any]], str] | str
        if sub in ("list", "ls", "sessions"):
            answer = await list_sessions(user)
        elif sub in ("join", "signup", "sign-up"):
            answer = await join(user, words[1:])
        elif sub == "add":
            answer = await add(user, words[1:])
        elif sub == "cancel":
            answer = await cancel_command(user, words[1:])
        elif sub == "stats":
            answer = await stats()
        elif sub == "onboard":
            answer = await onboard(user, words[1:])
        elif sub == "help":
            answer = USAGE
        else:
            answer = f"I don't know `/shadow {escape(sub)}`.\n{USAGE}"
        if isinstance(answer, str):
            await ack(text=answer)
        else:
            blocks, text = answer
            await ack(text=text, blocks=blocks)

    # -- buttons -------------------------------------------------------------------------------------------

    async def sign_up_clicked(body: dict[str, Any], session_id: int) -> None:
        user = body["user"]["id"]
        signed = await run(lambda conn: svc.sign_up(conn, config, session_id, user, utcnow()))
        if isinstance(signed, str):
            await tell(body, signed)

    async def cancel_clicked(body: dict[str, Any], session_id: int) -> None:
        user = body["user"]["id"]
        result = await run(lambda conn: svc.cancel(conn, config, session_id, user, utcnow()))
        if isinstance(result, str):
            await tell(body, result)
        else:
            await tell(
                body,
                f"Done: you're no longer signed up for {escape(views.session_title(result.session, zone))}.",
            )

    async def offer_clicked(body: dict[str, Any], session_id: int) -> None:
        user = body["user"]["id"]
        result = await run(lambda conn: svc.offer_seat(conn, config, session_id, user, utcnow()))
        if isinstance(result, str):
            await tell(body, result)
        else:
            await tell(
                body,
                "Your seat is on offer in the programme's channel; it stays yours until someone takes it.",
            )

    def session_in(action: dict[str, Any]) -> int | None:
        session = state_of(action).get("session")
        return session if isinstance(session, int) else None

    def session_listener(operation: Callable[[dict[str, Any], int], Any]) -> Any:
        async def on_click(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            session_id = session_in(action)
            if session_id is not None:
                await operation(body, session_id)

        return on_click

    for action_id, operation in (
        (Action.SHADOW_SIGN_UP, sign_up_clicked),
        (Action.SHADOW_CANCEL, cancel_clicked),
        (Action.SHADOW_OFFER, offer_clicked),
    ):
        app.action(action_id)(session_listener(operation))

    @app.action(Action.SHADOW_MORE)
    async def on_more(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        chosen = decode_state((action.get("selected_option") or {}).get("value"))
        session_id = chosen.get("session")
        if not isinstance(session_id, int):
            return
        if chosen.get("do") == "cancel":
            await cancel_clicked(body, session_id)
        elif chosen.get("do") == "offer":
            await offer_clicked(body, session_id)

    @app.action(Action.SHADOW_TAKE)
    async def on_take(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        booking = state_of(action).get("booking")
        if not isinstance(booking, int):
            return
        user = body["user"]["id"]
        result = await run(lambda conn: svc.take_seat(conn, config, booking, user, utcnow()))
        if isinstance(result, str):
            await tell(body, result)

    @app.action(Action.OPEN_SESSION_LINK)
    async def on_call_link(ack: AsyncAck) -> None:
        await ack()

    # -- feedback ------------------------------------------------------------------------------------------

    @app.action(Action.SHADOW_FEEDBACK)
    async def on_feedback(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        session_id = session_in(action)
        if session_id is None or runtime.slack is None:
            return
        session = await run(lambda conn: svc.load_session(conn, config, session_id))
        if isinstance(session, str):
            await tell(body, session)
            return
        await runtime.slack.open_view(body["trigger_id"], views.feedback_modal(session, zone))

    @app.options(Action.SHADOW_FEEDBACK_PROBLEMS)
    async def feedback_problem_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        query = str(body.get("value") or "").strip()
        if query.lstrip("#").isdigit():
            wanted = int(query.lstrip("#"))
            found = await runtime.database.transaction(
                lambda conn: list(
                    conn.execute(select(problems.c.id).where(problems.c.primary_issue_id == wanted)).scalars()
                )
            )
        elif query:
            matches = await runtime.search.search(query, limit=OPTIONS_SHOWN, open_only=True, prefix=True)
            found = [m.problem_id for m in matches]
        else:
            found = await runtime.database.transaction(
                lambda conn: list(
                    conn.execute(
                        select(problems.c.id)
                        .where(problems.c.status == "open")
                        .order_by(problems.c.updated_at.desc())
                        .limit(OPTIONS_SHOWN)
                    ).scalars()
                )
            )
        rows = await runtime.database.transaction(
            lambda conn: problem_summaries(conn, found, open_only=False)
        )
        await ack(options=problem_options(rows))

    @app.view(Callback.SHADOW_FEEDBACK_MODAL)
    async def feedback_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        learned = str((values.get(Block.SHADOW_LEARNED, {}).get(INPUT) or {}).get("value") or "").strip()
        chosen = (values.get(Block.SHADOW_PROBLEMS, {}).get(Action.SHADOW_FEEDBACK_PROBLEMS) or {}).get(
            "selected_options"
        ) or []
        problem_ids = [int(o["value"]) for o in chosen if str(o.get("value", "")).isdigit()]
        session_id = decode_state(view.get("private_metadata")).get("session")
        if not learned:
            await ack(response_action="errors", errors={Block.SHADOW_LEARNED: "A sentence or two, please."})
            return
        if not isinstance(session_id, int):
            await ack()
            return
        user = body["user"]["id"]
        result = await run(
            lambda conn: svc.record_feedback(conn, config, session_id, user, learned[:2000], problem_ids)
        )
        if isinstance(result, str):
            await ack(response_action="errors", errors={Block.SHADOW_LEARNED: result})
            return
        await ack()

    # -- App Home ------------------------------------------------------------------------------------------

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") not in (None, "home"):
            return
        user = str(event.get("user") or "")
        if not user:
            return
        try:
            await runtime.database.transaction(lambda conn: svc.refresh_home(conn, user))
        except DatabaseUnavailable:
            log.warning("home not refreshed: database unavailable")
            return
        runtime.deliverer.wake()
