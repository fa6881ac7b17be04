"""Shadowing end to end: really signed Slack requests through the real app, the fake Slack checking
every call against the published contract. Sign-up, waitlist, cancel, swap from the weekly post;
`/shadow` commands; onboarding; the App Home; the feedback modal."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy import insert

from bot.ids import Action, Block, Callback
from bot.services import shadowing as svc
from bot.when import format_duration
from db.models import releases, utcnow
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.slack_api import FakeSlack
from schedules import shadowing as jobs
from tests.harness import Stack, add_channels, answer_of, click, running_app

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture
async def shadow_stack(database_url: str, slack: FakeSlack) -> AsyncIterator[Stack]:
    channels = add_channels(slack)
    channels["shadowing"] = slack.add_channel("shadowing")
    people = {name: slack.add_user(name) for name in ("host", "ana", "ben", "cat", "dan", "admin")}
    now_local = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    weekly = (now_local - timedelta(minutes=1)).strftime("%a %H:%M").lower()  # "just now", this week
    config = {
        "admins": [people["admin"]],
        "shadowing": {
            "weekly_post": weekly,
            "programmes": [
                {
                    "id": "l1",
                    "name": "L1 support",
                    "hosts": [people["host"]],
                    "channel": channels["shadowing"],
                    "capacity": 1,
                    "where": "https://meet.example.test/l1",
                }
            ],
            "fairness": {"group": [people["ana"], people["ben"]], "target_hours": 2},
            "managers_group": slack.add_usergroup([people["cat"]]),
        },
    }
    async with running_app(database_url, slack, channels, config_overrides=config) as stack:
        stack.extra["people"] = people
        yield stack


def dm_messages(slack: FakeSlack, user: str) -> list[dict[str, Any]]:
    return [m for ch in slack.channels.values() if ch.is_im and ch.im_user == user for m in ch.messages]


def dm_texts(slack: FakeSlack, user: str) -> list[str]:
    return [str(m.get("text")) for m in dm_messages(slack, user)]


async def wait_dm(stack: Stack, user: str, starts: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next(
            (m for m in dm_messages(stack.slack, user) if str(m.get("text")).startswith(starts)), None
        )

    return await stack.slack.wait_for(found, 10, message=f"a DM to {user} starting {starts!r}")  # type: ignore[no-any-return]


async def add_session(stack: Stack, user: str, days: int = 2, extra: str = "") -> tuple[int, Any]:
    starts = (utcnow() + timedelta(days=days)).astimezone(stack.config.zone)
    response = await stack.slash_command(
        f"add l1 {starts:%Y-%m-%d} {starts:%H:%M} 45m {extra}".strip(),
        user=user,
        channel=stack.channels["shadowing"],
        command="/shadow",
    )
    answer = await answer_of(response)
    assert "Added session #" in answer["text"], answer
    session_id = int(answer["text"].split("#")[1].split(":")[0])
    return session_id, starts


def post_of(stack: Stack) -> dict[str, Any]:
    posts = stack.slack.messages(stack.channels["shadowing"])
    return next(m for m in posts if str(m.get("text")).startswith("Shadow support this week"))


async def weekly_post(stack: Stack) -> dict[str, Any]:
    runtime = stack.runtime
    await jobs.tick(runtime.database, runtime.config, runtime.people)
    runtime.deliverer.wake()
    await stack.slack.wait_for(
        lambda: any(
            str(m.get("text")).startswith("Shadow support")
            for m in stack.slack.messages(stack.channels["shadowing"])
        ),
        10,
        message="the weekly post",
    )
    post = post_of(stack)
    return {"channel": stack.channels["shadowing"], "ts": post["ts"]}


def shown(stack: Stack, message: dict[str, Any]) -> str:
    return json.dumps(stack.slack.message(message["channel"], message["ts"])["blocks"])


async def test_sign_up_waitlist_cancel_and_swap_from_the_weekly_post(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    session_id, _ = await add_session(stack, p["host"])
    post = await weekly_post(stack)
    assert "L1 support" in shown(stack, post) and "1 of 1 seats free" in shown(stack, post)

    await click(stack, post, Action.SHADOW_SIGN_UP, p["ana"])
    await wait_dm(stack, p["ana"], "Booked: L1 support")
    await wait_dm(stack, p["host"], f":wave: <@{p['ana']}> is coming")
    await stack.slack.wait_for(
        lambda: f"Coming: <@{p['ana']}>" in shown(stack, post), 10, message="post updated"
    )
    assert "Join waitlist" in shown(stack, post)

    await click(stack, post, Action.SHADOW_SIGN_UP, p["ben"])
    await wait_dm(stack, p["ben"], "Waitlist #1: L1 support")

    # ANA can't make it: "Cancel my booking" in the post's menu; BEN moves up and is told.
    cancel = json.dumps({"v": 1, "session": session_id, "do": "cancel"}, separators=(",", ":"))
    await click(stack, post, Action.SHADOW_MORE, p["ana"], selected_option={"value": cancel})
    await wait_dm(stack, p["ben"], "A seat opened up for you")
    await stack.slack.wait_for(
        lambda: any(
            "no longer signed up" in e["text"] for e in stack.slack.ephemerals(post["channel"], p["ana"])
        ),
        10,
        message="ANA told her booking is cancelled",
    )

    # BEN offers his seat; CAT takes it in one click; a second taker is told it's gone.
    offer = json.dumps({"v": 1, "session": session_id, "do": "offer"}, separators=(",", ":"))
    await click(stack, post, Action.SHADOW_MORE, p["ben"], selected_option={"value": offer})
    swap_post = await stack.slack.wait_for(
        lambda: next(
            (
                m
                for m in stack.slack.messages(post["channel"])
                if str(m.get("text")).startswith("Seat on offer")
            ),
            None,
        ),
        10,
        message="the swap post",
    )
    swap = {"channel": post["channel"], "ts": swap_post["ts"]}
    await click(stack, swap, Action.SHADOW_TAKE, p["cat"])
    await wait_dm(stack, p["ben"], "Your seat was taken")
    await wait_dm(stack, p["cat"], "Booked: L1 support")
    await stack.slack.wait_for(lambda: "took" in shown(stack, swap), 10, message="swap post edited")
    assert Action.SHADOW_TAKE not in shown(stack, swap)  # no dead button left behind

    session = await stack.runtime.database.transaction(
        lambda c: svc.load_session(c, stack.runtime.config, session_id)
    )
    assert session.booked == (p["cat"],) and session.waitlisted == ()


async def test_shadow_commands_add_list_join_cancel_stats(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    channel = stack.channels["shadowing"]

    async def shadow(text: str, user: str) -> dict[str, Any]:
        response = await stack.slash_command(text, user=user, channel=channel, command="/shadow")
        return await answer_of(response)

    starts = (utcnow() + timedelta(days=3)).astimezone(stack.config.zone)
    refused = await shadow(f"add l1 {starts:%Y-%m-%d} 10:00", p["ana"])
    assert "Only hosts of L1 support and admins" in refused["text"]
    assert "Couldn't read the date" in (await shadow("add l1 tomorrow 10:00", p["admin"]))["text"]
    session_id, _ = await add_session(stack, p["admin"], days=3, extra="capacity 2 Room 4")

    listing = await shadow("", p["ana"])
    blocks = json.dumps(listing["blocks"])
    assert f"#{session_id}" in blocks and "Room 4" in blocks and Action.SHADOW_SIGN_UP in blocks
    assert f"{format_duration(timedelta(minutes=45))}" in blocks

    assert "You're booked" in (await shadow(f"join #{session_id}", p["ana"]))["text"]
    assert "already booked" in (await shadow(f"join {session_id}", p["ana"]))["text"]
    mine = json.dumps((await shadow("list", p["ana"]))["blocks"])
    assert "Your sessions" in mine and Action.SHADOW_CANCEL in mine

    # Someone who is neither host nor admin gives up their own seat with /shadow cancel.
    assert "no longer signed up" in (await shadow(f"cancel {session_id}", p["ana"]))["text"]
    assert "Only the session's hosts" in (await shadow(f"cancel {session_id}", p["ben"]))["text"]
    await shadow(f"join {session_id}", p["ben"])
    answer = await shadow(f"cancel {session_id}", p["host"])
    assert "Cancelled L1 support" in answer["text"] and "1 person told" in answer["text"]
    await wait_dm(stack, p["ben"], "Cancelled: L1 support")

    assert (await shadow("stats", p["cat"]))["text"] == ""  # acked at once: the stats follow privately
    stats = await stack.slack.wait_for(
        lambda: next(iter(stack.slack.ephemerals(channel, p["cat"])), None), 10, message="the stats"
    )
    assert "Shadowing in Q" in stats["text"] and f"<@{p['ana']}>" in json.dumps(stats["blocks"])
    assert "I don't know `/shadow dance`" in (await shadow("dance", p["cat"]))["text"]


async def test_onboarding_a_new_hire_books_their_first_week(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    runtime = stack.runtime
    config = runtime.config
    today = utcnow().astimezone(config.zone).date()
    first = svc.next_working_day(config, today)
    # Sessions on the first two working days of the plan (a host added them).
    for day in svc.working_days(config, first, 2):
        starts = f"{day:%Y-%m-%d} 11:00"
        response = await stack.slash_command(
            f"add l1 {starts} 1h", user=p["host"], channel=stack.channels["shadowing"], command="/shadow"
        )
        assert "Added session" in (await answer_of(response))["text"]

    response = await stack.slash_command(
        f"onboard <@{p['dan']}|dan>", user=p["host"], channel=stack.channels["shadowing"], command="/shadow"
    )
    answer = (await answer_of(response))["text"]
    assert f"First-week plan for <@{p['dan']}>: 2 of 5 days booked" in answer
    plan = await wait_dm(stack, p["dan"], "Your first-week shadowing plan: 2 sessions")
    assert f"<@{p['host']}> set you up" in json.dumps(plan["blocks"])
    assert "no open session that day" in json.dumps(plan["blocks"])
    await wait_dm(stack, p["dan"], "Booked for you: L1 support")
    bad = await stack.slash_command(
        "onboard dan", user=p["host"], channel=stack.channels["shadowing"], command="/shadow"
    )
    assert "Who?" in (await answer_of(bad))["text"]


async def click_answer(
    stack: Stack,
    answer: dict[str, Any],
    action_id: str,
    user: str,
    nth: int = 0,
    response_url: str = "https://hooks.slack.com/actions/T0/1/abc",
    **chosen: Any,
) -> ClientResponse:
    """A click on a button of a slash command's answer (an ephemeral message, not stored by Slack)."""
    buttons = [
        (block, element)
        for block in answer["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == action_id
    ]
    block, element = buttons[nth]
    kind = element["type"]
    channel = stack.channels["shadowing"]
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": user},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "ephemeral", "channel_id": channel, "message_ts": "1700000000.000100"},
            "channel": {"id": channel},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block["block_id"],
                    "type": kind,
                    "action_ts": "1700000000.000200",
                    **({"value": element["value"]} if "value" in element else {}),
                    **chosen,
                }
            ],
            "response_url": response_url,
        }
    )
    assert response.status == 200
    return response


async def wait_ephemeral(stack: Stack, user: str, contains: str) -> dict[str, Any]:
    channel = stack.channels["shadowing"]
    return await stack.slack.wait_for(  # type: ignore[no-any-return]
        lambda: next((e for e in stack.slack.ephemerals(channel, user) if contains in e["text"]), None),
        10,
        message=f"an ephemeral to {user} with {contains!r}",
    )


async def test_onboarding_others_takes_an_admin_host_or_manager_and_offers_free_sessions(
    shadow_stack: Stack,
) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    config = stack.runtime.config
    channel = stack.channels["shadowing"]

    async def shadow(text: str, user: str) -> dict[str, Any]:
        response = await stack.slash_command(text, user=user, channel=channel, command="/shadow")
        return await answer_of(response)

    today = utcnow().astimezone(config.zone).date()
    week = svc.working_days(config, svc.next_working_day(config, today), 5)
    assert "Added session" in (await shadow(f"add l1 {week[0]:%Y-%m-%d} 11:00 1h", p["host"]))["text"]
    later = (utcnow() + timedelta(days=12)).astimezone(config.zone)  # after the first week
    assert "Added session" in (await shadow(f"add l1 {later:%Y-%m-%d} 11:00 1h", p["host"]))["text"]

    # ANA is neither admin, host nor manager: she may not plan DAN's week, and nothing is booked.
    refused = (await shadow(f"onboard <@{p['dan']}>", p["ana"]))["text"]
    managers = config.shadowing.managers_group
    assert refused.startswith(
        f"Only admins, shadowing hosts and managers (<!subteam^{managers}>) can onboard"
    )
    assert "your own first week" in refused
    assert dm_texts(stack.slack, p["dan"]) == []

    # CAT is in the managers' group: the plan books the one free day and names the others.
    answer = await shadow(f"onboard <@{p['dan']}|dan>", p["cat"])
    text = answer["text"]
    assert f"First-week plan for <@{p['dan']}>: 1 of 5 days booked." in text
    empty = (
        ", ".join(f"{d:%a} {d.day} {d:%b}" for d in week[1:4])
        + f" or {week[4]:%a} {week[4].day} {week[4]:%b}"
    )
    assert f"Nothing free on {empty}." in text
    assert "with reminders before each booked session" in text
    assert "Next free sessions" in json.dumps(answer["blocks"])
    await wait_dm(stack, p["dan"], "Your first-week shadowing plan: 1 session")

    # The offered session's button books it for DAN: not for BEN (no right to), for CAT.
    await click_answer(stack, answer, Action.SHADOW_BOOK_FOR, p["ben"])
    await wait_ephemeral(stack, p["ben"], "Only admins, shadowing hosts and managers")
    await click_answer(stack, answer, Action.SHADOW_BOOK_FOR, p["cat"])
    await wait_ephemeral(stack, p["cat"], f"<@{p['dan']}> is booked for L1 support")
    await wait_dm(stack, p["dan"], "Booked for you: L1 support")
    mine = await stack.runtime.database.transaction(lambda c: svc.sessions_of(c, config, p["dan"], utcnow()))
    assert len(mine) == 2
    # The same button again: the normal sign-up rules answer, clearly.
    await click_answer(stack, answer, Action.SHADOW_BOOK_FOR, p["cat"])
    await wait_ephemeral(stack, p["cat"], "already booked")

    # Anyone may plan their own week; the bookings DAN has count toward it.
    own = (await shadow(f"onboard <@{p['dan']}>", p["dan"]))["text"]
    assert f"First-week plan for <@{p['dan']}>: 1 of 5 days booked (1 booked already)." in own
    assert "The plan is in your DMs" in own

    # BEN starts after every session: nothing is booked, nothing is promised.
    start = (utcnow() + timedelta(days=14)).astimezone(config.zone).date()
    nothing = await shadow(f"onboard <@{p['ben']}> {start:%Y-%m-%d}", p["admin"])
    assert nothing["text"].startswith(f"Nothing booked for <@{p['ben']}>: no session is free")
    assert "The plan is in" not in nothing["text"]
    assert "hosts can add one" in json.dumps(nothing["blocks"])
    dm = await wait_dm(stack, p["ben"], "Your first-week shadowing plan: nothing booked yet")
    assert "reminder" not in json.dumps(dm["blocks"])


async def stale_click(
    stack: Stack, message: dict[str, Any], action_id: str, state: dict[str, Any], user: str
) -> None:
    """A click on a control the message showed before it was updated (Slack delivers it anyway)."""
    value = json.dumps({"v": 1, **state}, separators=(",", ":"))
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": user},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "message", "channel_id": message["channel"], "message_ts": message["ts"]},
            "channel": {"id": message["channel"]},
            "message": {"ts": message["ts"]},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "old",
                    "type": "button",
                    "value": value,
                    "action_ts": "1.2",
                }
            ],
            "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        }
    )
    assert response.status == 200


async def test_a_click_on_the_shadow_list_shows_the_list_as_it_is_now(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    channel = stack.channels["shadowing"]
    session_id, _ = await add_session(stack, p["host"], days=3)

    async def listing(user: str) -> dict[str, Any]:
        response = await stack.slash_command("", user=user, channel=channel, command="/shadow")
        return await answer_of(response)

    def replaced(url: str, count: int) -> Any:
        async def wait() -> dict[str, Any]:
            return await stack.slack.wait_for(  # type: ignore[no-any-return]
                lambda: (
                    stack.slack.responses(url)[count - 1]
                    if len(stack.slack.responses(url)) >= count
                    else None
                ),
                10,
                message=f"response {count} to the list's response URL",
            )

        return wait()

    first = await listing(p["ana"])
    assert "1 of 1 seats free" in json.dumps(first["blocks"])
    url = stack.slack.response_url(channel, p["ana"])
    await click_answer(stack, first, Action.SHADOW_SIGN_UP, p["ana"], response_url=url)
    now = await replaced(url, 1)
    assert now["replace_original"] is True
    shown_now = json.dumps(now["blocks"])
    assert now["blocks"][0]["text"]["text"].startswith(":white_check_mark: You're booked for L1 support")
    assert "Your sessions" in shown_now and "full" in shown_now and Action.SHADOW_CANCEL in shown_now
    await wait_dm(stack, p["ana"], "Booked: L1 support")

    # Offered from the list: the list says so and offers it no more; then cancelled from it.
    await click_answer(stack, now, Action.SHADOW_OFFER, p["ana"], response_url=url)
    offered = json.dumps((await replaced(url, 2))["blocks"])
    assert "Your seat is on offer" in offered and "booked, seat on offer" in offered
    assert Action.SHADOW_OFFER not in offered
    await click_answer(stack, await replaced(url, 2), Action.SHADOW_CANCEL, p["ana"], response_url=url)
    after = json.dumps((await replaced(url, 3))["blocks"])
    assert "no longer signed up" in after and "Your sessions" not in after and "1 of 1 seats free" in after

    # BEN's list is older than ANA's booking: his click on it is answered in the list, as it is now.
    ben_list = await listing(p["ben"])
    await stack.slash_command(f"join {session_id}", user=p["cat"], channel=channel, command="/shadow")
    ben_url = stack.slack.response_url(channel, p["ben"])
    cancel = json.dumps({"v": 1, "session": session_id, "list": 1, "do": "cancel"}, separators=(",", ":"))
    await click_answer(
        stack, ben_list, Action.SHADOW_MORE, p["ben"], response_url=ben_url, selected_option={"value": cancel}
    )
    ben_now = json.dumps((await replaced(ben_url, 1))["blocks"])
    assert "You're not signed up for that session." in ben_now and "full" in ben_now
    assert stack.slack.violations == []


async def test_old_dms_lose_the_controls_that_no_longer_apply(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    channel = stack.channels["shadowing"]
    session_id, _ = await add_session(stack, p["host"], days=3, extra="capacity 2")

    async def shadow(text: str, user: str) -> dict[str, Any]:
        response = await stack.slash_command(text, user=user, channel=channel, command="/shadow")
        return await answer_of(response)

    await shadow(f"join {session_id}", p["ana"])
    booked = await wait_dm(stack, p["ana"], "Booked: L1 support")
    dm = {"channel": booked["channel"], "ts": booked["ts"]}
    assert Action.SHADOW_OFFER in shown(stack, dm) and Action.SHADOW_CANCEL in shown(stack, dm)

    # Offered from the DM: the DM says so and offers it no more.
    await click(stack, dm, Action.SHADOW_OFFER, p["ana"])
    await stack.slack.wait_for(lambda: "your seat is on offer" in shown(stack, dm), 10, message="DM updated")
    assert Action.SHADOW_OFFER not in shown(stack, dm) and Action.SHADOW_CANCEL in shown(stack, dm)

    # Cancelled from the DM: no control is left on it.
    await click(stack, dm, Action.SHADOW_CANCEL, p["ana"])
    await stack.slack.wait_for(
        lambda: "no longer signed up" in shown(stack, dm), 10, message="DM shows the cancellation"
    )
    assert Action.SHADOW_CANCEL not in shown(stack, dm) and Action.SHADOW_OFFER not in shown(stack, dm)
    assert stack.slack.message(dm["channel"], dm["ts"])["text"].startswith("No longer signed up")

    # The old Cancel button, clicked anyway: a clear answer, not an error.
    await stale_click(stack, dm, Action.SHADOW_CANCEL, {"session": session_id}, p["ana"])
    await wait_dm(stack, p["ana"], "You're not signed up for that session.")

    # BEN's confirmation loses its buttons when the host cancels the session.
    await shadow(f"join {session_id}", p["ben"])
    ben = await wait_dm(stack, p["ben"], "Booked: L1 support")
    ben_dm = {"channel": ben["channel"], "ts": ben["ts"]}
    assert "Cancelled L1 support" in (await shadow(f"cancel {session_id}", p["host"]))["text"]
    await stack.slack.wait_for(lambda: "was cancelled" in shown(stack, ben_dm), 10, message="BEN's DM")
    assert Action.SHADOW_CANCEL not in shown(stack, ben_dm)
    await stale_click(stack, ben_dm, Action.SHADOW_OFFER, {"session": session_id}, p["ben"])
    await wait_dm(stack, p["ben"], "You can only offer a seat you have booked.")
    assert stack.slack.violations == []


async def click_dm(stack: Stack, message: dict[str, Any], block_id: str, action_id: str, user: str) -> None:
    """A click on a DM's control, with the message as Slack sends it along (its blocks)."""
    shown_now = stack.slack.message(message["channel"], message["ts"])
    block = next(b for b in shown_now["blocks"] if b.get("block_id") == block_id)
    element = next(e for e in block["elements"] if e.get("action_id") == action_id)
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": user},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "message", "channel_id": message["channel"], "message_ts": message["ts"]},
            "channel": {"id": message["channel"]},
            "message": {k: shown_now[k] for k in ("type", "ts", "text", "blocks") if k in shown_now},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "type": "button",
                    "value": element["value"],
                    "action_ts": "1.2",
                }
            ],
            "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        }
    )
    assert response.status == 200


async def test_a_click_on_the_first_week_plan_updates_that_plan(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    config = stack.runtime.config
    channel = stack.channels["shadowing"]

    async def shadow(text: str, user: str) -> dict[str, Any]:
        response = await stack.slash_command(text, user=user, channel=channel, command="/shadow")
        return await answer_of(response)

    today = utcnow().astimezone(config.zone).date()
    week = svc.working_days(config, svc.next_working_day(config, today), 2)
    for day in week:
        assert "Added session" in (await shadow(f"add l1 {day:%Y-%m-%d} 11:00 1h", p["host"]))["text"]
    later = (utcnow() + timedelta(days=12)).astimezone(config.zone)
    assert "Added session" in (await shadow(f"add l1 {later:%Y-%m-%d} 11:00 1h", p["host"]))["text"]
    await shadow(f"onboard <@{p['dan']}>", p["host"])
    plan = await wait_dm(stack, p["dan"], "Your first-week shadowing plan: 2 sessions")
    ref = {"channel": plan["channel"], "ts": plan["ts"]}
    mine = [b["block_id"] for b in plan["blocks"] if str(b.get("block_id", "")).startswith("shadow.mine.")]
    suggested = next(
        b["block_id"] for b in plan["blocks"] if str(b.get("block_id", "")).startswith("shadow.sugg")
    )
    assert len(mine) == 2

    # Cancel the first day from the plan: that day's buttons give way to a line; the second keeps its own.
    await click_dm(stack, ref, mine[0], Action.SHADOW_CANCEL, p["dan"])
    await stack.slack.wait_for(
        lambda: "no longer signed up for this one" in shown(stack, ref), 10, message="plan"
    )
    blocks = stack.slack.message(ref["channel"], ref["ts"])["blocks"]
    assert not any(b.get("block_id") == mine[0] for b in blocks)
    assert any(b.get("block_id") == mine[1] for b in blocks)

    # Sign up for the offered session from the plan: its button becomes Cancel / Offer my seat.
    await click_dm(stack, ref, suggested, Action.SHADOW_SIGN_UP, p["dan"])
    booked_id = f"shadow.mine.{suggested.rsplit('.', 1)[1]}"

    def booked_controls() -> str | None:
        blocks = stack.slack.message(ref["channel"], ref["ts"])["blocks"]
        found = next((b for b in blocks if b.get("block_id") == booked_id), None)
        return json.dumps(found) if found is not None else None

    controls = await stack.slack.wait_for(
        booked_controls, 10, message="the offered session booked in the plan"
    )
    assert Action.SHADOW_CANCEL in controls and Action.SHADOW_OFFER in controls
    assert stack.slack.violations == []


async def test_app_home_lists_sessions_and_signs_up(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    session_id, _ = await add_session(stack, p["host"])
    release_at = utcnow() + timedelta(days=4)
    await stack.runtime.database.transaction(
        lambda c: c.execute(
            insert(releases).values(
                version="2.7 <beta>",
                release_at=release_at,
                summary="Faster exports",
                channels=[],
                source="slack",
                status="scheduled",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    )
    event = {"type": "app_home_opened", "user": p["ana"], "channel": "D0HOME0001", "tab": "home"}
    assert (await stack.slack_event(event)).status == 200
    home = await stack.slack.wait_for(
        lambda: stack.slack.home_views.get(p["ana"]), 10, message="home published"
    )
    text = json.dumps(home["blocks"])
    assert "Your shadowing sessions" in text and "No sessions booked yet" in text and f"#{session_id}" in text
    assert "Issues you're on" in text and "Nothing claimed" in text
    assert "2.7 &lt;beta&gt;" in text and "Faster exports" in text  # upcoming releases, escaped

    # Sign up from the Home tab: a view, not a channel, so any answer goes by DM.
    block = next(b for b in home["blocks"] if b.get("block_id") == f"shadow.session.{session_id}")
    button = next(e for e in block["elements"] if e.get("action_id") == Action.SHADOW_SIGN_UP)
    payload = {
        "type": "block_actions",
        "user": {"id": p["ana"]},
        "trigger_id": stack.slack.new_trigger_id(),
        "container": {"type": "view", "view_id": home["id"]},
        "view": {"id": home["id"], "type": "home"},
        "actions": [
            {
                "action_id": Action.SHADOW_SIGN_UP,
                "block_id": block["block_id"],
                "type": "button",
                "value": button["value"],
                "action_ts": "1700000000.000002",
            }
        ],
    }
    assert (await stack.slack_interaction(payload)).status == 200
    await wait_dm(stack, p["ana"], "Booked: L1 support")
    await stack.slack.wait_for(
        lambda: "You: *booked*" in json.dumps(stack.slack.home_views[p["ana"]]["blocks"]),
        10,
        message="home refreshed",
    )
    # The same click again: refused, told by DM since the Home tab has no channel.
    payload["trigger_id"] = stack.slack.new_trigger_id()
    await stack.slack_interaction(payload)
    await wait_dm(stack, p["ana"], "You're already booked")


async def test_feedback_after_a_session_is_posted_in_the_programme_channel(shadow_stack: Stack) -> None:
    stack = shadow_stack
    p = stack.extra["people"]
    runtime = stack.runtime
    config = runtime.config
    programme = config.shadowing.programme("l1")
    assert programme is not None
    earlier = utcnow() - timedelta(hours=3)

    def held_session(conn: Any) -> int:
        session = svc.add_session(
            conn,
            config,
            programme,
            earlier + timedelta(hours=1),
            timedelta(hours=1),
            capacity=None,
            location=None,
            by=p["host"],
            now=earlier,
        )
        svc.sign_up(conn, config, session.id, p["ana"], earlier)
        return session.id

    session_id = await runtime.database.transaction(held_session)
    await jobs.tick(runtime.database, config, runtime.people)
    runtime.deliverer.wake()
    prompt = await wait_dm(stack, p["ana"], "How was shadowing L1 support?")
    await click(stack, {"channel": prompt["channel"], "ts": prompt["ts"]}, Action.SHADOW_FEEDBACK, p["ana"])
    modal = await stack.slack.wait_for(
        lambda: next(
            (v for v in stack.slack.views if v.get("callback_id") == Callback.SHADOW_FEEDBACK_MODAL), None
        ),
        10,
        message="the feedback modal",
    )
    empty = {
        "type": "view_submission",
        "user": {"id": p["ana"]},
        "view": {
            **modal,
            "state": {
                "values": {Block.SHADOW_LEARNED: {"value": {"type": "plain_text_input", "value": " "}}}
            },
        },
    }
    refused = await stack.slack_interaction(empty)
    assert (await refused.json())["errors"][Block.SHADOW_LEARNED]
    learned = f"Customers <!channel> can't find the export button {uuid.uuid4().hex[:6]}"
    filled = {
        **empty,
        "view": {
            **modal,
            "state": {
                "values": {
                    Block.SHADOW_LEARNED: {"value": {"type": "plain_text_input", "value": learned}},
                    Block.SHADOW_PROBLEMS: {
                        Action.SHADOW_FEEDBACK_PROBLEMS: {
                            "type": "multi_external_select",
                            "selected_options": [],
                        }
                    },
                }
            },
        },
    }
    response = await stack.slack_interaction(filled)
    assert response.status == 200
    feedback = await stack.slack.wait_for(
        lambda: next(
            (
                m
                for m in stack.slack.messages(stack.channels["shadowing"])
                if "Shadowing feedback" in str(m.get("text"))
            ),
            None,
        ),
        10,
        message="the feedback post",
    )
    text = json.dumps(feedback["blocks"])
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text  # escaped: pings no one
    booking = await runtime.database.transaction(lambda c: svc.load_session(c, config, session_id))
    assert booking.booked == (p["ana"],)

    # The prompt's button has done its work, and the session is over: the old DMs lose their controls.
    prompt_ref = {"channel": prompt["channel"], "ts": prompt["ts"]}
    await stack.slack.wait_for(
        lambda: "your feedback is shared" in shown(stack, prompt_ref), 10, message="the prompt updated"
    )
    assert Action.SHADOW_FEEDBACK not in shown(stack, prompt_ref)
    booked = await wait_dm(stack, p["ana"], "L1 support")  # the booking confirmation, re-rendered
    assert "which is over" in json.dumps(booked["blocks"])
    assert Action.SHADOW_CANCEL not in json.dumps(booked["blocks"])
    # A click on the old button that arrives anyway is answered, not an error.
    await stale_click(stack, prompt_ref, Action.SHADOW_FEEDBACK, {"session": session_id}, p["ana"])
    await wait_dm(stack, p["ana"], "You already shared feedback for that session")


async def test_shadow_stats_acks_before_slack_lists_the_user_groups(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    ana, ben, host = slack.add_user("ana"), slack.add_user("ben"), slack.add_user("host")
    everyone, first, second = (
        slack.add_usergroup([ana, ben]),
        slack.add_usergroup([ana]),
        slack.add_usergroup([ben]),
    )
    programme = {"id": "l1", "name": "L1 support", "hosts": [host], "channel": channels["default"]}
    fairness = {"group": everyone, "teams": {"First line": first, "Second line": second}, "target_hours": 2}
    config = {"shadowing": {"programmes": [programme], "fairness": fairness}}
    async with running_app(database_url, slack, channels, config_overrides=config) as stack:
        # Each of the three user groups takes most of the request's one-second budget to list.
        slack.fail("usergroups.users.list", times=3, slow=0.8)
        started = time.monotonic()
        response = await stack.slash_command(
            "stats", user=host, channel=channels["default"], command="/shadow"
        )
        acked_after = time.monotonic() - started
        assert (await answer_of(response))["text"] == ""
        assert acked_after < 0.8  # before Slack answered even the first lookup
        stats = await slack.wait_for(
            lambda: next(iter(slack.ephemerals(channels["default"], host)), None), 10, message="the stats"
        )
        assert time.monotonic() - started >= 3 * 0.8  # the lookups ran, after the ack
        shown = json.dumps(stats["blocks"])
        assert "Shadowing in Q" in stats["text"] and f"<@{ana}>" in shown and f"<@{ben}>" in shown
        assert "First line" in shown and "Second line" in shown
        assert len(slack.calls_to("usergroups.users.list")) == 3


async def test_hosts_in_a_user_group_are_checked_within_the_request(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    host, other = slack.add_user("host"), slack.add_user("other")
    group = slack.add_usergroup([host])
    programme = {"id": "l1", "name": "L1 support", "hosts": group, "channel": channels["default"]}
    config = {"shadowing": {"programmes": [programme]}}
    async with running_app(database_url, slack, channels, config_overrides=config) as stack:
        starts = (utcnow() + timedelta(days=2)).astimezone(stack.config.zone)
        command = f"add l1 {starts:%Y-%m-%d} {starts:%H:%M}"

        async def shadow(user: str) -> str:
            response = await stack.slash_command(
                command, user=user, channel=channels["default"], command="/shadow"
            )
            return str((await answer_of(response))["text"])

        # Slack's user groups answer slowly: the command still answers in time, saying so.
        slack.fail("usergroups.users.list", slow=2.5)
        assert "couldn't check who hosts this programme" in await shadow(host)
        assert "Only hosts of L1 support and admins" in await shadow(other)
        assert "Added session #" in await shadow(host)


async def test_the_feedback_problem_picker_finds_resolved_problems_too(shadow_stack: Stack) -> None:
    """What someone saw while shadowing may already be fixed: the picker lists resolved problems."""
    from tests.harness import new_card

    stack = shadow_stack
    p = stack.extra["people"]
    issue_id, card = await new_card(
        stack, subject="Invoice PDF download is blank", body="Every page is blank."
    )
    await click(stack, card, "issue.resolve", p["ana"])
    await stack.slack.wait_for(
        lambda: "Resolved" in json.dumps(stack.slack.message(card["channel"], card["ts"])["blocks"]),
        message="resolved",
    )
    response = await stack.slack_interaction(
        {
            "type": "block_suggestion",
            "user": {"id": p["ana"]},
            "action_id": Action.SHADOW_FEEDBACK_PROBLEMS,
            "block_id": Block.SHADOW_PROBLEMS,
            "value": "invoice pdf",
            "container": {"type": "view", "view_id": "V0000000001"},
            "view": {"id": "V0000000001", "type": "modal", "callback_id": Callback.SHADOW_FEEDBACK_MODAL},
        }
    )
    assert response.status == 200
    found = (await response.json())["options"]
    assert any(o["text"]["text"].startswith(f"#{issue_id} ") for o in found), found
