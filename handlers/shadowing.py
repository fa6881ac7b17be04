"""`/shadow`, the shadowing buttons (on the weekly post, in DMs and on the App Home) and the feedback
modal. Thin: parse, check who may, call the shadowing service, answer."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from functools import partial
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.config import Programme
from bot.domain.numbers import parse_number
from bot.domain.outbox import Ephemeral, ShadowDmControls, ShadowListRefresh
from bot.ids import Action, Block, Callback
from bot.people import REQUEST_BUDGET_SECONDS
from bot.runtime import Runtime
from bot.services import outbox
from bot.services import shadowing as svc
from bot.services.cards import problem_summaries
from bot.services.posts import enqueue_post
from bot.sla import parse_hh_mm
from bot.views import shadowing as views
from bot.views.blocks import Blocks, decode_state, escape, plural, section
from bot.when import local_at, parse_calendar_duration
from db.models import utcnow
from db.queries.problems import problems_led_by, recent_open_problems
from db.session import DatabaseUnavailable, Work
from handlers import payload
from handlers.common import Clicked, Refused, perform, runtime_of
from handlers.triage import OPTIONS_SHOWN, problem_options
from integrations.slack import SlackError

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
NOT_CHECKED_ONBOARDERS = (
    "I couldn't check who may onboard others (Slack did not list the user groups). Try again in a moment."
)
UNAVAILABLE = "Couldn't do that right now (the database is unavailable). Please try again in a minute."


def _duration(word: str) -> timedelta | None:
    try:
        return parse_calendar_duration(word)
    except ValueError:
        return None


def _session_ref(word: str | None) -> int | None:
    match = SESSION_REF.match(word or "")
    return int(match[1]) if match else None


Answer = tuple[Blocks, str] | str


async def run(runtime: Runtime, work: Work[T]) -> T | str:
    """Run service work in one transaction; a refusal or an outage comes back as the text to show."""
    result = await perform(runtime, work, what="shadowing", unavailable=UNAVAILABLE)
    return result.text if isinstance(result, Refused) else result


async def tell(runtime: Runtime, clicked: Clicked, text: str, blocks: Blocks | None = None) -> None:
    """A private answer to whoever clicked: ephemeral in a channel, a DM from the Home tab or a DM."""
    channel, user = clicked.channel_id, clicked.user_id
    if not user:
        return

    enqueue: Work[None]
    if channel and not channel.startswith("D") and blocks is None:
        enqueue = partial(outbox.enqueue_in, payload=Ephemeral(channel=channel, user=user, text=text))
    else:
        enqueue = partial(enqueue_post, channel=user, text=text, blocks=blocks or [section(text)])
    try:
        await runtime.database.transaction(enqueue)
    except DatabaseUnavailable:
        log.warning("shadowing answer not sent: database unavailable")
        return
    runtime.deliverer.wake()


async def may_manage(runtime: Runtime, user: str, programme: Programme) -> bool:
    """Admins and the programme's hosts; user groups are asked of Slack within the request's budget
    (raises TimeoutError past it)."""
    return await runtime.people.includes(
        [*runtime.config.admins, *programme.hosts], user, within=REQUEST_BUDGET_SECONDS
    )


# -- /shadow ------------------------------------------------------------------------------------------


async def list_sessions(runtime: Runtime, user: str) -> Answer:
    config = runtime.config
    now = utcnow()
    loaded = await run(
        runtime, lambda conn: (svc.sessions_of(conn, config, user, now), svc.open_sessions(conn, config, now))
    )
    if isinstance(loaded, str):
        return loaded
    mine, open_ = loaded
    return views.session_list(user, mine, open_, config.zone)


async def add(runtime: Runtime, user: str, words: list[str]) -> str:
    config = runtime.config
    zone = config.zone
    if len(words) < 3:
        return "Usage: `/shadow add <programme> <YYYY-MM-DD> <HH:MM> [90m] [capacity 3] [where…]`"
    programme = config.shadowing.programme(words[0].lower())
    if programme is None:
        known = ", ".join(f"`{p.id}`" for p in config.shadowing.programmes) or "none configured"
        return f"No programme `{escape(words[0])}`. Programmes: {known}."
    try:
        allowed = await may_manage(runtime, user, programme)
    except TimeoutError:
        return NOT_CHECKED
    if not allowed:
        return f"Only hosts of {escape(programme.name)} and admins can add sessions."
    try:
        day = date.fromisoformat(words[1])
        at = parse_hh_mm(words[2])
    except ValueError as exc:
        return f"Couldn't read the date and time ({escape(str(exc))}); write them like `2026-11-25 14:00`."
    rest = words[3:]
    duration = programme.sessions[0].duration if programme.sessions else timedelta(hours=1)
    given = _duration(rest[0]) if rest else None
    if given is not None:
        duration, rest = given, rest[1:]
    capacity = None
    seats = (
        parse_number(rest[1]) if len(rest) >= 2 and rest[0].lower() in ("capacity", "cap", "seats") else None
    )
    if seats is not None:
        capacity, rest = max(1, min(100, seats)), rest[2:]
    if not timedelta(minutes=5) <= duration <= timedelta(hours=12):
        return "A session lasts between 5 minutes and 12 hours."
    location = " ".join(rest)[:500] or None
    starts = local_at(day, at, zone)
    result = await run(
        runtime,
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
        ),
    )
    if isinstance(result, str):
        return result
    return f":white_check_mark: Added session #{result.id}: {views.session_heading(result, zone)}."


async def cancel_command(runtime: Runtime, user: str, words: list[str]) -> str:
    config = runtime.config
    zone = config.zone
    session_id = _session_ref(words[0] if words else None)
    if session_id is None:
        return "Which session? For example `/shadow cancel 12` (the number is shown as #12)."
    loaded = await run(runtime, lambda conn: svc.load_session(conn, config, session_id))
    if isinstance(loaded, str):
        return loaded
    programme = config.shadowing.programme(loaded.programme)
    try:
        manages = programme is not None and await may_manage(runtime, user, programme)
    except TimeoutError:
        return NOT_CHECKED
    if programme is not None and manages:
        result = await run(runtime, lambda conn: svc.cancel_session(conn, config, session_id, user, utcnow()))
        if isinstance(result, str):
            return result
        told = len(loaded.booked) + len(loaded.waitlisted)
        told_text = "nobody was booked" if not told else f"{plural(told, 'person', 'people')} told"
        return f"Cancelled {views.session_heading(result, zone)}; {told_text}."
    if loaded.status_of(user) is not None:
        cancelled = await run(runtime, lambda conn: svc.cancel(conn, config, session_id, user, utcnow()))
        if isinstance(cancelled, str):
            return cancelled
        return f"You're no longer signed up for {views.session_heading(cancelled.session, zone)}."
    return "Only the session's hosts and admins can cancel a session, and you're not signed up for it."


async def join(runtime: Runtime, user: str, words: list[str]) -> str:
    config = runtime.config
    session_id = _session_ref(words[0] if words else None)
    if session_id is None:
        return "Which session? For example `/shadow join 12`, or pick one from `/shadow`."
    signed = await run(runtime, lambda conn: svc.sign_up(conn, config, session_id, user, utcnow()))
    if isinstance(signed, str):
        return signed
    if signed.status == svc.WAITLISTED:
        return f"That session is full: you're #{signed.position} on the waitlist. Details in your DMs."
    return f":white_check_mark: You're booked for {views.session_heading(signed.session, config.zone)}."


def onboarders(runtime: Runtime) -> list[str]:
    """Who may onboard someone else: admins, the hosts of every programme and the managers' group."""
    shadowing = runtime.config.shadowing
    hosts = [h for p in shadowing.programmes for h in p.hosts]
    managers = [shadowing.managers_group] if shadowing.managers_group else []
    return [*runtime.config.admins, *hosts, *managers]


def onboard_refusal(runtime: Runtime) -> str:
    managers = runtime.config.shadowing.managers_group
    who = "admins, shadowing hosts" + (f" and managers (<!subteam^{managers}>)" if managers else "")
    return (
        f"Only {who} can onboard someone else. "
        "You can plan your own first week: `/shadow onboard` followed by your own @name."
    )


async def may_onboard(runtime: Runtime, user: str, person: str) -> bool:
    """Anyone plans their own first week; someone else's takes an admin, a host or a manager (raises
    TimeoutError when Slack does not list the groups within the request's budget)."""
    if user == person:
        return True
    return await runtime.people.includes(onboarders(runtime), user, within=REQUEST_BUDGET_SECONDS)


async def onboard(runtime: Runtime, user: str, words: list[str]) -> Answer:
    config = runtime.config
    match = MENTION.match(words[0]) if words else None
    if match is None:
        return "Who? For example `/shadow onboard @new.hire` (optionally a start date: `2026-11-30`)."
    person = match[1]
    try:
        allowed = await may_onboard(runtime, user, person)
    except TimeoutError:
        return NOT_CHECKED_ONBOARDERS
    if not allowed:
        return onboard_refusal(runtime)
    today = utcnow().astimezone(config.zone).date()
    try:
        start = date.fromisoformat(words[1]) if len(words) > 1 else svc.next_working_day(config, today)
    except ValueError:
        return "Write the start date like `2026-11-30`."
    if start <= today:
        return "The plan must start after today."
    plan = await run(runtime, lambda conn: svc.onboard(conn, config, person, user, start, utcnow()))
    if isinstance(plan, str):
        return plan
    return views.plan_reply(plan, config.zone, user)


async def stats(runtime: Runtime) -> Answer:
    """Hours per person and team this quarter. The fairness group and each team are user groups that
    Slack expands (up to a second each): this runs after the command's ack, never before."""
    config = runtime.config
    fairness = config.shadowing.fairness
    assert fairness is not None
    people = runtime.people
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
    hours = await run(runtime, lambda conn: svc.hours_by_person(conn, start, end, now, group))
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


async def show_privately(runtime: Runtime, command: payload.Command, answer: Answer) -> None:
    """An answer given after the ack: an ephemeral in the command's channel, else (a DM, or a channel
    the bot cannot post in) a DM from the bot."""
    blocks, text = ([section(answer)], answer) if isinstance(answer, str) else answer
    channel = command.channel_id
    if runtime.slack is not None and channel and not channel.startswith("D"):
        try:
            await runtime.slack.post_ephemeral(channel, command.user_id, text, blocks)
            return
        except SlackError as exc:
            log.warning("answer not shown in the channel: sent as a DM", extra={"error": type(exc).__name__})
    await tell(runtime, command, text, blocks)


async def shadow_command(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    command = payload.Command.from_body(body)
    words = command.words
    sub = words[0].lower() if words else "list"
    user = command.user_id
    if not runtime.config.shadowing.programmes and sub != "help":
        await ack(
            text="Shadowing isn't set up yet: an admin adds programmes under `shadowing` "
            "in the configuration."
        )
        return
    answer: Answer
    if sub in ("list", "ls", "sessions"):
        answer = await list_sessions(runtime, user)
    elif sub in ("join", "signup", "sign-up"):
        answer = await join(runtime, user, words[1:])
    elif sub == "add":
        answer = await add(runtime, user, words[1:])
    elif sub == "cancel":
        answer = await cancel_command(runtime, user, words[1:])
    elif sub == "stats":
        if runtime.config.shadowing.fairness is None:
            answer = (
                "Fairness isn't set up: add `shadowing.fairness` (a group and a target) to the configuration."
            )
        else:
            await ack()  # Slack's user groups may take seconds to list: the stats follow as an ephemeral
            await show_privately(runtime, command, await stats(runtime))
            return
    elif sub == "onboard":
        answer = await onboard(runtime, user, words[1:])
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


async def answer_click(
    runtime: Runtime, clicked: payload.Action, session_id: int, text: str, *, in_list: bool, ok: bool
) -> None:
    """What a click did. On a `/shadow` list the list itself is shown again as it is now, with the
    answer on top (through the click's response URL); elsewhere a private answer, and for a refusal
    the person's DMs about the session are re-rendered without the dead control."""
    if in_list and clicked.response_url:
        refresh = ShadowListRefresh(response_url=clicked.response_url, user=clicked.user_id, notice=text)
        try:
            await runtime.database.transaction(partial(outbox.enqueue_in, payload=refresh))
        except DatabaseUnavailable:
            log.warning("shadow list not refreshed: database unavailable")
        else:
            runtime.deliverer.wake()
            return
    if ok:
        await tell(runtime, clicked, text)
    else:
        await refused(runtime, clicked, session_id, text)


async def sign_up_clicked(
    runtime: Runtime, clicked: payload.Action, session_id: int, *, in_list: bool = False
) -> None:
    user = clicked.user_id
    config = runtime.config
    signed = await run(runtime, lambda conn: svc.sign_up(conn, config, session_id, user, utcnow()))
    if isinstance(signed, str):
        await answer_click(runtime, clicked, session_id, signed, in_list=in_list, ok=False)
    elif in_list:  # elsewhere the DM confirming it is the answer
        title = escape(views.session_title(signed.session, config.zone))
        if signed.status == svc.WAITLISTED:
            text = f":hourglass_flowing_sand: {title} is full: you're *#{signed.position}* on the waitlist."
        else:
            text = f":white_check_mark: You're booked for {title}."
        await answer_click(runtime, clicked, session_id, text, in_list=True, ok=True)


async def refused(runtime: Runtime, clicked: payload.Action, session_id: int, text: str) -> None:
    """A control that no longer applies (a stale DM, a second click): say why, and re-render the
    person's DMs about the session so the dead control goes away."""
    await tell(runtime, clicked, text)
    await run(runtime, lambda conn: svc.refresh_dms(conn, session_id, [clicked.user_id]))


async def cancel_clicked(
    runtime: Runtime, clicked: payload.Action, session_id: int, *, in_list: bool = False
) -> None:
    user = clicked.user_id
    result = await run(runtime, lambda conn: svc.cancel(conn, runtime.config, session_id, user, utcnow()))
    if isinstance(result, str):
        await answer_click(runtime, clicked, session_id, result, in_list=in_list, ok=False)
    else:
        title = views.session_heading(result.session, runtime.config.zone)
        text = f"Done: you're no longer signed up for {title}."
        await answer_click(runtime, clicked, session_id, text, in_list=in_list, ok=True)


async def offer_clicked(
    runtime: Runtime, clicked: payload.Action, session_id: int, *, in_list: bool = False
) -> None:
    user = clicked.user_id
    result = await run(runtime, lambda conn: svc.offer_seat(conn, runtime.config, session_id, user, utcnow()))
    if isinstance(result, str):
        await answer_click(runtime, clicked, session_id, result, in_list=in_list, ok=False)
    else:
        text = "Your seat is on offer in the programme's channel; it stays yours until someone takes it."
        await answer_click(runtime, clicked, session_id, text, in_list=in_list, ok=True)


SESSION_BUTTONS = {
    Action.SHADOW_SIGN_UP: sign_up_clicked,
    Action.SHADOW_CANCEL: cancel_clicked,
    Action.SHADOW_OFFER: offer_clicked,
}


async def update_clicked_dm(runtime: Runtime, clicked: payload.Action) -> None:
    """After a click on a DM (a first-week plan, a nudge), that message shows each session's controls
    as they apply now: updated through the outbox with the blocks Slack sent with the click."""
    channel, ts = clicked.channel_id, clicked.message_ts
    if not (channel and channel.startswith("D") and ts and clicked.message_blocks):
        return
    item = ShadowDmControls(
        channel=channel,
        ts=ts,
        user=clicked.user_id,
        blocks=list(clicked.message_blocks),
        text=clicked.message_text,
    )
    try:
        await runtime.database.transaction(partial(outbox.enqueue_in, payload=item))
    except DatabaseUnavailable:
        log.warning("clicked DM not updated: database unavailable")
        return
    runtime.deliverer.wake()


async def on_session_button(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    clicked = payload.Action.from_body(body)
    session_id = clicked.state_int("session")
    if session_id is not None:
        in_list = clicked.state.get("list") == 1
        runtime = runtime_of(context)
        await SESSION_BUTTONS[Action(clicked.action_id)](runtime, clicked, session_id, in_list=in_list)
        await update_clicked_dm(runtime, clicked)


async def on_more(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    clicked = payload.Action.from_body(body)
    chosen = decode_state(clicked.selected)
    session_id = chosen.get("session")
    if not isinstance(session_id, int):
        return
    in_list = chosen.get("list") == 1
    if chosen.get("do") == "cancel":
        await cancel_clicked(runtime_of(context), clicked, session_id, in_list=in_list)
    elif chosen.get("do") == "offer":
        await offer_clicked(runtime_of(context), clicked, session_id, in_list=in_list)
    await update_clicked_dm(runtime_of(context), clicked)


async def on_take(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    booking = clicked.state_int("booking")
    if booking is None:
        return
    user = clicked.user_id
    result = await run(runtime, lambda conn: svc.take_seat(conn, runtime.config, booking, user, utcnow()))
    if isinstance(result, str):
        await tell(runtime, clicked, result)


async def on_book_for(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """A suggested session in an onboarding answer: book it for the new hire, with the rules of a
    normal sign-up, if the clicker may onboard them."""
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    session_id, person = clicked.state_int("session"), clicked.state_str("person")
    if session_id is None or person is None or not MENTION.match(f"<@{person}>"):
        return
    user = clicked.user_id
    try:
        allowed = await may_onboard(runtime, user, person)
    except TimeoutError:
        await tell(runtime, clicked, NOT_CHECKED_ONBOARDERS)
        return
    if not allowed:
        await tell(runtime, clicked, onboard_refusal(runtime))
        return
    config = runtime.config
    signed = await run(
        runtime,
        lambda conn: svc.sign_up(conn, config, session_id, person, utcnow(), by=user, plan="onboarding"),
    )
    if isinstance(signed, str):
        await tell(runtime, clicked, signed)
        return
    title = escape(views.session_title(signed.session, config.zone))
    if signed.status == svc.WAITLISTED:
        waiting = f"<@{person}> is #{signed.position} on the waitlist"
        await tell(runtime, clicked, f"{title} filled up meanwhile: {waiting}.")
    else:
        await tell(runtime, clicked, f":white_check_mark: <@{person}> is booked for {title}.")


async def on_call_link(ack: AsyncAck) -> None:
    await ack()


# -- feedback ------------------------------------------------------------------------------------------


async def on_feedback(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    session_id = clicked.state_int("session")
    if session_id is None or runtime.slack is None:
        return
    user = clicked.user_id
    state = await run(runtime, lambda conn: svc.dm_state(conn, runtime.config, session_id, user))
    if isinstance(state, str):
        await tell(runtime, clicked, state)
        return
    if state is None:
        await tell(runtime, clicked, "That session no longer exists.")
        return
    if state.feedback_given:
        shared = "You already shared feedback for that session. Thank you!"
        await refused(runtime, clicked, session_id, shared)
        return
    session = state.session
    await runtime.slack.open_view(
        clicked.require_trigger(), views.feedback_modal(session, runtime.config.zone)
    )


async def feedback_problem_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    query = payload.OptionsRequest.from_body(body).query
    wanted = parse_number(query)
    if wanted is not None:
        found = await runtime.database.transaction(lambda conn: problems_led_by(conn, wanted))
    elif query:
        # What was seen while shadowing may be fixed already: resolved problems are offered too.
        matches = await runtime.search.search(query, limit=OPTIONS_SHOWN, prefix=True)
        found = [m.problem_id for m in matches]
    else:
        found = await runtime.database.transaction(lambda conn: recent_open_problems(conn, OPTIONS_SHOWN))
    rows = await runtime.database.transaction(lambda conn: problem_summaries(conn, found, open_only=False))
    await ack(options=problem_options(rows))


async def feedback_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    learned = (view.input(Block.SHADOW_LEARNED).value or "").strip()
    chosen = view.input(Block.SHADOW_PROBLEMS, Action.SHADOW_FEEDBACK_PROBLEMS).selected_all
    problem_ids = [n for n in map(parse_number, chosen) if n is not None]
    session_id = view.metadata_int("session")
    if not learned:
        await ack(response_action="errors", errors={Block.SHADOW_LEARNED: "A sentence or two, please."})
        return
    if session_id is None:
        await ack()
        return
    user = view.user_id
    result = await run(
        runtime,
        lambda conn: svc.record_feedback(conn, runtime.config, session_id, user, learned[:2000], problem_ids),
    )
    if isinstance(result, str):
        await ack(response_action="errors", errors={Block.SHADOW_LEARNED: result})
        return
    await ack()


def register(app: AsyncApp) -> None:
    app.command("/shadow")(shadow_command)
    for action_id in SESSION_BUTTONS:
        app.action(action_id)(on_session_button)
    app.action(Action.SHADOW_MORE)(on_more)
    app.action(Action.SHADOW_TAKE)(on_take)
    app.action(Action.SHADOW_BOOK_FOR)(on_book_for)
    app.action(Action.OPEN_SESSION_LINK)(on_call_link)
    app.action(Action.SHADOW_FEEDBACK)(on_feedback)
    app.options(Action.SHADOW_FEEDBACK_PROBLEMS)(feedback_problem_options)
    app.view(Callback.SHADOW_FEEDBACK_MODAL)(feedback_submitted)
