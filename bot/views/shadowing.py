"""Block Kit for shadowing: the weekly open-sessions post, lists, confirmations, reminders, the
feedback prompt and modal, stats and first-week plans. Pure: sessions in, (blocks, text) out.

Times are shown twice: as Slack's `<!date^…>` token (each reader sees their own time zone) with the
programme's wall time in the configured zone as the fallback and in plain-text places.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.shadowing import DmState, Plan, PlanDay, Session, session_title
from bot.ids import INPUT, Action, Block, Callback
from bot.views.blocks import (
    Blocks,
    actions,
    button,
    context,
    divider,
    encode_state,
    escape,
    header,
    link_button,
    plain,
    plural,
    section,
    slack_time,
    truncate,
)
from bot.when import format_duration

Rendered = tuple[Blocks, str]
MAX_LISTED = 20  # sessions in one message: each takes two blocks, Slack allows 50


def _people(users: Sequence[str]) -> str:
    return ", ".join(f"<@{u}>" for u in users)


def _hosts(session: Session) -> str:
    return ", ".join(f"<!subteam^{h}>" if h.startswith("S") else f"<@{h}>" for h in session.hosts)


def _where(session: Session) -> str:
    return escape(truncate(session.location, 300)) if session.location else "to be announced"


def _seats(session: Session) -> str:
    if session.seats_left:
        return f"{session.seats_left} of {session.capacity} seats free"
    waiting = f", {len(session.waitlisted)} waiting" if session.waitlisted else ""
    return f"full{waiting}"


def session_heading(session: Session, zone: ZoneInfo) -> str:
    """The session's name and start as mrkdwn: the start in each reader's own zone (`slack_time`).
    Plain-text places (notification fallbacks, refusals) use `session_title`, in the configured zone."""
    return f"{escape(session.name)}, {slack_time(session.starts_at, zone)}"


def line(session: Session, zone: ZoneInfo) -> str:
    start = slack_time(session.starts_at, zone)
    length = format_duration(session.ends_at - session.starts_at)
    return (
        f"*{escape(session.name)}* · {start} ({length}) · #{session.id}\n"
        f"Host {_hosts(session)} · {_where(session)} · {_seats(session)}"
    )


def _state(session: Session, *, in_list: bool = False, **extra: Any) -> str:
    """A session's controls carry its id; on a `/shadow` list also `list: 1`, so that a click on it
    re-renders the list in place."""
    return encode_state(session=session.id, **({"list": 1} if in_list else {}), **extra)


def sign_up_button(session: Session, *, in_list: bool = False) -> dict[str, Any]:
    state = _state(session, in_list=in_list)
    if session.seats_left:
        return button("Sign up", Action.SHADOW_SIGN_UP, state, style="primary")
    return button("Join waitlist", Action.SHADOW_SIGN_UP, state)


def _more_menu(session: Session, *, in_list: bool = False) -> dict[str, Any]:
    return {
        "type": "overflow",
        "action_id": Action.SHADOW_MORE,
        "options": [
            {"text": plain("Cancel my booking", 75), "value": _state(session, in_list=in_list, do="cancel")},
            {
                "text": plain("Offer my seat to someone", 75),
                "value": _state(session, in_list=in_list, do="offer"),
            },
        ],
    }


def listed(session: Session, zone: ZoneInfo, *, coming: bool = True, in_list: bool = False) -> Blocks:
    text = line(session, zone)
    if coming and session.booked:
        text += f"\nComing: {_people(session.booked)}"
    controls = [sign_up_button(session, in_list=in_list), _more_menu(session, in_list=in_list)]
    return [section(text), actions(controls, block_id=f"shadow.session.{session.id}")]


def mine_controls(
    session: Session, status: str, *, offered: bool = False, in_list: bool = False
) -> dict[str, Any]:
    state = _state(session, in_list=in_list)
    elements = [button("Cancel", Action.SHADOW_CANCEL, state, style="danger")]
    if status == "booked" and not offered:
        elements.append(button("Offer my seat", Action.SHADOW_OFFER, state))
    return actions(elements, block_id=f"shadow.mine.{session.id}")


def controls_now(state: DmState, kind: str) -> dict[str, Any]:
    """The controls of one session in a DM that was clicked (a plan, a nudge), as they apply now:
    cancel and offer while signed up, sign-up while not, and a plain line once neither can work."""
    session = state.session
    if session.status != "scheduled":
        return context("This session was cancelled.")
    if session.starts_at <= state.now:
        return context(
            "This session has started." if session.ends_at > state.now else "This session is over."
        )
    if state.status is not None:
        return mine_controls(session, state.status, offered=state.offered)
    if kind == "mine":
        return context("You're no longer signed up for this one. `/shadow` lists the open sessions.")
    if not session.seats_left and not session.waitlist_allowed:
        return context("This session is full.")
    return actions([sign_up_button(session)], block_id=f"shadow.{kind}.{session.id}")


def dm_state(state: DmState, zone: ZoneInfo, *, prompt: bool) -> Rendered:
    """An earlier DM about a session once something changed: what is true now, with only the
    controls that can still work (none once the session started, was cancelled or left)."""
    session = state.session
    title = escape(session_title(session, zone))
    if prompt:
        if not state.feedback_given:
            return feedback_prompt(session, zone)
        text = f":speech_balloon: Thanks for shadowing *{escape(session.name)}*: your feedback is shared."
        return [section(text)], f"Feedback shared: {session_title(session, zone)}"
    if session.status != "scheduled":
        blocks = [section(f":x: {title} was cancelled. Pick another with `/shadow`.")]
        return blocks, f"Cancelled: {session_title(session, zone)}"
    if session.starts_at <= state.now:
        over = session.ends_at <= state.now
        mark = "is over" if over else "has started"
        lead = "You were booked for" if state.status == "booked" else "You're not signed up for"
        return [section(f"{lead} {title}, which {mark}.")], f"{session_title(session, zone)} {mark}"
    if state.status is None:
        blocks = [
            section(f"You're no longer signed up for {title}."),
            context("Changed your mind? `/shadow` lists the open sessions."),
        ]
        return blocks, f"No longer signed up: {session_title(session, zone)}"
    if state.status == "booked":
        lead = ":white_check_mark: You're booked:"
        if state.offered:
            lead = ":arrows_counterclockwise: You're booked; your seat is on offer until someone takes it:"
        text = f"Booked: {session_title(session, zone)}"
    else:
        position = session.waitlisted.index(state.user) + 1
        lead = f":hourglass_flowing_sand: You're *#{position}* on the waitlist:"
        text = f"Waitlist #{position}: {session_title(session, zone)}"
    blocks = _session_block(session, zone, lead)
    blocks.append(mine_controls(session, state.status, offered=state.offered))
    return blocks, text


def week_post(
    programme_name: str, sessions: Sequence[Session], zone: ZoneInfo, where: str | None
) -> Rendered:
    blocks: Blocks = [header(f"Shadow support this week: {programme_name}")]
    intro = "Sit with support for an hour and see what customers run into. Pick a session:"
    blocks.append(section(intro))
    if not sessions:
        blocks.append(section("_No sessions this week._ Hosts can add one with `/shadow add`."))
    for session in sessions[:MAX_LISTED]:
        blocks.extend(listed(session, zone))
    if len(sessions) > MAX_LISTED:
        blocks.append(context(f"and {len(sessions) - MAX_LISTED} more: `/shadow`"))
    blocks.append(
        context(
            "Sign up here, in the app's Home tab or with `/shadow`. "
            "Can't make it? Use ⋯ to cancel or offer your seat."
        )
    )
    text = f"Shadow support this week: {programme_name}, {len(sessions)} session(s)"
    return blocks, truncate(text, 300)


def session_list(
    user: str,
    mine: Sequence[tuple[Session, str]],
    open_: Sequence[Session],
    zone: ZoneInfo,
    *,
    notice: str | None = None,
) -> Rendered:
    """`/shadow`: your sessions (with cancel and offer) and open ones (with sign-up); after a click on
    it, the same list as it is now with `notice` (what the click did, already escaped) on top."""
    blocks: Blocks = [section(truncate(notice, 2000))] if notice else []
    if mine:
        blocks.append(section("*Your sessions*"))
        for session, status in mine[:10]:
            offered = any(owner == user for _, owner in session.offered)
            if status == "booked":
                label = "booked, seat on offer" if offered else "booked"
            else:
                label = f"#{session.waitlisted.index(user) + 1} on the waitlist"
            blocks.append(section(f"{line(session, zone)}\nYou: *{label}*"))
            blocks.append(mine_controls(session, status, offered=offered, in_list=True))
        blocks.append(divider())
    mine_ids = {s.id for s, _ in mine}
    others = [s for s in open_ if s.id not in mine_ids]
    blocks.append(section("*Open sessions*" if others else "_No open sessions in the next two weeks._"))
    for session in others[:10]:
        blocks.extend(listed(session, zone, coming=False, in_list=True))
    blocks.append(context("`/shadow stats` · `/shadow help`"))
    text = f"{len(mine)} of your sessions, {len(others)} open"
    return blocks[:50], text


def _session_block(session: Session, zone: ZoneInfo, lead: str) -> Blocks:
    blocks: Blocks = [section(f"{lead}\n{line(session, zone)}")]
    if session.location and session.location.startswith(("https://", "http://")):
        blocks.append(actions([link_button("Join the call", session.location, Action.OPEN_SESSION_LINK)]))
    return blocks


def booked(session: Session, zone: ZoneInfo, by: str | None) -> Rendered:
    who = f"<@{by}> booked you a seat" if by else "You're booked"
    blocks = _session_block(session, zone, f":white_check_mark: {who}:")
    blocks.append(mine_controls(session, "booked"))
    blocks.append(context("You'll get a reminder the day before and 15 minutes before."))
    return blocks, f"{'Booked for you' if by else 'Booked'}: {session_title(session, zone)}"


def waitlisted(session: Session, zone: ZoneInfo, position: int) -> Rendered:
    blocks = _session_block(
        session, zone, f":hourglass_flowing_sand: That session is full; you're *#{position}* on the waitlist:"
    )
    blocks.append(mine_controls(session, "waitlisted"))
    blocks.append(context("If a seat frees up, it's yours and you'll be told here."))
    return blocks, f"Waitlist #{position}: {session_title(session, zone)}"


def promoted(session: Session, zone: ZoneInfo) -> Rendered:
    blocks = _session_block(session, zone, ":tada: A seat opened up and it's yours:")
    blocks.append(mine_controls(session, "booked"))
    return blocks, f"A seat opened up for you: {session_title(session, zone)}"


def swap(session: Session, zone: ZoneInfo, owner: str, booking_id: int, taken_by: str | None) -> Rendered:
    if taken_by:
        text = f":handshake: <@{taken_by}> took <@{owner}>'s seat:\n{line(session, zone)}"
        return [section(text)], f"Seat taken: {session_title(session, zone)}"
    blocks = [
        section(
            f":arrows_counterclockwise: <@{owner}> can't make it and offers their seat:\n"
            + line(session, zone)
        ),
        actions(
            [button("Take this seat", Action.SHADOW_TAKE, encode_state(booking=booking_id), style="primary")]
        ),
    ]
    return blocks, f"Seat on offer: {session_title(session, zone)}"


def swap_withdrawn(session: Session, zone: ZoneInfo, owner: str) -> Rendered:
    text = f"~<@{owner}> offered a seat~ — withdrawn: they cancelled instead.\n{line(session, zone)}"
    return [section(text)], f"Offer withdrawn: {session_title(session, zone)}"


def seat_taken(session: Session, zone: ZoneInfo, taker: str) -> Rendered:
    text = f":handshake: <@{taker}> took your seat for {session_heading(session, zone)}. You're free."
    return [section(text)], f"Your seat was taken: {session_title(session, zone)}"


def session_cancelled(session: Session, zone: ZoneInfo, by: str) -> Rendered:
    text = f":x: <@{by}> cancelled {session_heading(session, zone)}. Pick another with `/shadow`."
    return [section(text)], f"Cancelled: {session_title(session, zone)}"


def host_note(session: Session, zone: ZoneInfo, what: str, user: str, detail: dict[str, Any]) -> Rendered:
    lines = []
    for title in (session_heading(session, zone), escape(session_title(session, zone))):
        if what == "joined":
            lines.append(f":wave: <@{user}> is coming to {title}.")
        elif what == "left":
            lines.append(f"<@{user}> cancelled their seat for {title}.")
        else:
            lines.append(
                f":arrows_counterclockwise: <@{user}> took <@{detail.get('from')}>'s seat for {title}."
            )
    coming = _people(session.booked) or "nobody yet"
    return [section(lines[0]), context(f"Coming: {coming} · {_seats(session)}")], lines[1]


def reminder(session: Session, zone: ZoneInfo, lead: timedelta, *, host: bool) -> Rendered:
    soon = "tomorrow" if lead >= timedelta(hours=20) else f"in {format_duration(lead)}"
    if host:
        coming = _people(session.booked) or "nobody yet"
        lead_text = f":alarm_clock: You host a shadowing session {soon}. Coming: {coming}."
    else:
        lead_text = f":alarm_clock: Your shadowing session starts {soon}."
    blocks = _session_block(session, zone, lead_text)
    if not host:
        blocks.append(mine_controls(session, "booked"))
    return blocks, f"Reminder: {session_title(session, zone)} {soon}"


def feedback_prompt(session: Session, zone: ZoneInfo) -> Rendered:
    blocks = [
        section(
            f":speech_balloon: Thanks for shadowing *{escape(session.name)}*! Two questions, one minute: "
            "what did you learn, and which customer problems did you see?"
        ),
        actions(
            [
                button(
                    "Share feedback",
                    Action.SHADOW_FEEDBACK,
                    encode_state(session=session.id),
                    style="primary",
                )
            ]
        ),
    ]
    return blocks, f"How was shadowing {session.name}?"


def feedback_modal(session: Session, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Callback.SHADOW_FEEDBACK_MODAL,
        "private_metadata": encode_state(session=session.id),
        "title": plain("Shadowing feedback", 24),
        "submit": plain("Share", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            section(f"*{session_heading(session, zone)}*"),
            {
                "type": "input",
                "block_id": Block.SHADOW_LEARNED,
                "label": plain("What did you learn?", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT,
                    "multiline": True,
                    "max_length": 2000,
                },
            },
            {
                "type": "input",
                "block_id": Block.SHADOW_PROBLEMS,
                "optional": True,
                "label": plain("Which customer problems did you see?", 2000),
                "hint": plain("They get a note in their card's thread.", 2000),
                "element": {
                    "type": "multi_external_select",
                    "action_id": Action.SHADOW_FEEDBACK_PROBLEMS,
                    "placeholder": plain("Search problems", 150),
                    "min_query_length": 0,
                    "max_selected_items": 10,
                },
            },
        ],
    }


def feedback_post(
    session: Session, zone: ZoneInfo, user: str, learned: str, problems: Sequence[tuple[int, str]]
) -> Rendered:
    quoted = "\n".join(f">{line}" for line in escape(truncate(learned, 2000)).splitlines() or [""])
    blocks: Blocks = [
        section(f":speech_balloon: <@{user}> shadowed {session_heading(session, zone)}:\n{quoted}")
    ]
    if problems:
        listed = "\n".join(f"• #{pid} {escape(truncate(subject, 120))}" for pid, subject in problems[:10])
        blocks.append(section(f"*Problems seen*\n{listed}"))
    return blocks, f"Shadowing feedback from a {session.name} session"


def short_day(day: date) -> str:
    """ "Wed 9 Dec": the day named in plans."""
    return f"{day:%a} {day.day} {day:%b}"


def _days_list(days: Sequence[date]) -> str:
    named = [short_day(d) for d in days]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]


def _plan_day(day: PlanDay, zone: ZoneInfo) -> str:
    if day.session is None:
        return f"_{escape(day.reason or 'no session')}_"
    already = " _(booked already)_" if day.existing else ""
    return line(day.session, zone) + already


def book_for_button(session: Session, person: str) -> dict[str, Any]:
    return button("Book this one", Action.SHADOW_BOOK_FOR, encode_state(session=session.id, person=person))


def _suggested(p: Plan, zone: ZoneInfo, *, for_person: bool) -> Blocks:
    """The next free sessions, each with a button that books it (for the person themselves: a normal
    sign-up; for someone onboarding them: a booking on their behalf)."""
    if not p.empty_days:
        return []
    if not p.suggestions:
        return [context("No other free session is coming up either; hosts can add one with `/shadow add`.")]
    blocks: Blocks = [section("*Next free sessions*")]
    for session in p.suggestions:
        control = sign_up_button(session) if for_person else book_for_button(session, p.person)
        blocks.append(section(line(session, zone)))
        blocks.append(actions([control], block_id=f"shadow.suggested.{session.id}"))
    return blocks


def plan(p: Plan, zone: ZoneInfo, by: str) -> Rendered:
    """The new hire's DM: what is booked each day, what is free instead, and (only when something is
    booked) the promise of reminders."""
    count = len(p.booked)
    blocks: Blocks = [header("Your first week: shadowing support")]
    if count:
        blocks.append(
            section(
                f"Welcome! <@{by}> set you up to sit with support once a day this week — "
                "the fastest way to learn what customers run into."
            )
        )
    else:
        blocks.append(
            section(
                f"Welcome! <@{by}> wanted to set you up to sit with support this week, but no session "
                "was free on any day of it, so *nothing is booked yet*."
            )
        )
    if count:
        for day in p.days:
            blocks.append(section(f"*{day.day:%A} {day.day.day} {day.day:%b}*\n{_plan_day(day, zone)}"))
            if day.session is not None:
                blocks.append(mine_controls(day.session, "booked"))
    if p.empty_days and count:
        blocks.append(section(f"Nothing free on {_days_list(p.empty_days)}."))
    blocks.extend(_suggested(p, zone, for_person=True))
    if count:
        blocks.append(context("You'll get a reminder before each session. Cancel any you can't make."))
        text = f"Your first-week shadowing plan: {plural(count, 'session', 'sessions')}"
    else:
        text = "Your first-week shadowing plan: nothing booked yet"
    return blocks[:50], text


def plan_summary(p: Plan, zone: ZoneInfo, *, own: bool = False) -> str:
    count = len(p.booked)
    if not count:
        if not p.days:
            return f"Nothing booked for <@{p.person}>."
        first, last = short_day(p.days[0].day), short_day(p.days[-1].day)
        span = first if first == last else f"{first} to {last}"
        whose = "your" if own else "their"
        return (
            f"Nothing booked for <@{p.person}>: no session is free on any day of {whose} first week "
            f"({span}), so there are no reminders either."
        )
    already = f" ({p.existing} booked already)" if p.existing else ""
    lines = [f"First-week plan for <@{p.person}>: {count} of {len(p.days)} days booked{already}."]
    for day in p.days:
        if day.session is not None:
            lines.append(f"• {short_day(day.day)}: {session_heading(day.session, zone)}")
        else:
            lines.append(f"• {short_day(day.day)}: {escape(day.reason or 'no session')}")
    if p.empty_days:
        lines.append(f"Nothing free on {_days_list(p.empty_days)}.")
    return "\n".join(lines)


def plan_reply(p: Plan, zone: ZoneInfo, by: str) -> Rendered:
    """The answer to `/shadow onboard`: the plan, the days with nothing free and the next free
    sessions to book instead; reminders are promised only for what is booked."""
    self_ = p.person == by
    text = plan_summary(p, zone, own=self_)
    if p.booked:
        where = "your DMs" if self_ else "their DMs"
        text += f"\nThe plan is in {where}, with reminders before each booked session."
    blocks: Blocks = [section(text)]
    blocks.extend(_suggested(p, zone, for_person=self_))
    return blocks[:50], truncate(text, 3000)


def nudge(done: float, target: float, label: str, sessions: Sequence[Session], zone: ZoneInfo) -> Rendered:
    blocks: Blocks = [
        section(
            f":wave: A friendly nudge: you've shadowed support for *{done:g} h* of the *{target:g} h* "
            f"everyone on the product side aims for in {label}. Here are the next open sessions:"
        )
    ]
    for session in sessions[:5]:
        blocks.extend(listed(session, zone, coming=False))
    if not sessions:
        blocks.append(section("_No open sessions right now; new ones are posted every week._"))
    return blocks, f"Shadowing: {done:g} of {target:g} hours in {label}"


def stats(
    label: str,
    target: float,
    people: Sequence[tuple[str, str, float, float]],
    teams: Sequence[tuple[str, int, float, int]],
) -> Rendered:
    """people: (user, team, held, booked); teams: (team, members, hours, on target)."""
    blocks: Blocks = [header(f"Shadowing in {label}")]
    if teams:
        lines = [
            f"• *{escape(name)}*: {hours:g} h over {plural(members, 'person', 'people')}"
            f" · {ok}/{members} on target"
            for name, members, hours, ok in teams
        ]
        blocks.append(section("*By team*\n" + "\n".join(lines)))
    if not people:
        blocks.append(section("_Nobody in the fairness group yet: set `shadowing.fairness.group`._"))
    chunk: list[str] = []
    for user, team, held, ahead in people:
        mark = ":white_check_mark:" if held + ahead >= target else ":small_orange_diamond:"
        extra = f" (+{ahead:g} h booked)" if ahead else ""
        chunk.append(f"{mark} <@{user}> · {escape(team)} · {held:g} h{extra}")
        if len(chunk) == 25:
            blocks.append(section("\n".join(chunk)))
            chunk = []
    if chunk:
        blocks.append(section("\n".join(chunk)))
    blocks.append(
        context(f"Target: {target:g} h per person per quarter, held or booked. Executives included.")
    )
    return blocks[:50], f"Shadowing in {label}"
