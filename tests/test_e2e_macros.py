"""Macros end to end, through really signed Slack requests against the fake Slack: `/support macro
add|list|remove` (and their refusals), "Save as macro" on a sent reply and on a won't-do rationale, the
reply form's picker (the report's product area first; choosing fills the text, still editable) and the
use counted when the reply is sent."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import Block
from bot.services import macros as macro_service
from bot.services.escalation import store_rationale
from bot.views.report_modal import INPUT
from db.models import customer_replies, issues, macros
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import Stack, add_channels, answer_of, click, new_card, running_app
from tests.test_e2e_replies import WEBHOOKS, RecordingChannel, open_form, wait_for_line

AGENT = "U0000000002"  # the fake's members, created in this order (the bot is the first)
OTHER = "U0000000003"
ADMIN = "U0000000004"


@pytest.fixture
async def stack(database_url: str, slack: FakeSlack) -> AsyncIterator[Stack]:
    assert [slack.add_user(name) for name in ("agent", "other", "admin")] == [AGENT, OTHER, ADMIN]
    overrides = {**WEBHOOKS, "admins": [ADMIN]}
    async with running_app(database_url, slack, add_channels(slack), config_overrides=overrides) as running:
        running.runtime.replies["webhook"] = RecordingChannel()  # type: ignore[index]
        yield running


async def command(stack: Stack, text: str, user: str = AGENT) -> dict[str, Any]:
    response = await stack.slash_command(text, user=user, channel=stack.channels["default"])
    return await answer_of(response)


async def all_macros(stack: Stack) -> list[Any]:
    return await stack.runtime.database.transaction(
        lambda conn: conn.execute(select(macros).order_by(macros.c.id)).all()
    )


def values(**fields: str) -> dict[str, Any]:
    return {block: {INPUT: {"type": "plain_text_input", "value": value}} for block, value in fields.items()}


async def submit(stack: Stack, view: dict[str, Any], state: dict[str, Any], user: str = AGENT) -> Any:
    submitted = copy.deepcopy(view)
    submitted["state"] = {"values": state}
    response = await stack.slack_interaction(
        {"type": "view_submission", "user": {"id": user}, "view": submitted, "trigger_id": "1.2.3"}
    )
    assert response.status == 200
    return response


def initial(view: dict[str, Any], block_id: str) -> str | None:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    return block["element"].get("initial_value")  # type: ignore[no-any-return]


async def new_modal(stack: Stack, before: int, what: str) -> dict[str, Any]:
    await stack.slack.wait_for(lambda: len(stack.slack.modals) > before, message=what)
    return stack.slack.modals[-1]


async def test_add_list_and_remove_with_their_refusals(stack: Stack) -> None:
    # Slack escapes &, < and > in a command's text; control characters are dropped.
    saved = await command(
        stack, "macro add Refund policy | We refund within &lt;b&gt;30 days&lt;/b&gt; &amp; more.\x07"
    )
    assert "Saved the macro *Refund policy*" in saved["text"]
    (row,) = await all_macros(stack)
    assert (row.name, row.text, row.created_by, row.uses) == (
        "Refund policy",
        "We refund within <b>30 days</b> & more.",
        AGENT,
        0,
    )

    duplicate = await command(stack, "macro add refund POLICY | Something else", user=OTHER)
    assert "already" in duplicate["text"]
    empty = await command(stack, "macro add Nothing |   ")
    assert "Write the message" in empty["text"]
    mention = await command(stack, "macro add Ask | ask <@U0PM000001>")
    assert "Mentions" in mention["text"]
    assert len(await all_macros(stack)) == 1

    await command(stack, "macro add Export tips | Use the CSV export for large files.", user=OTHER)
    listed = await command(stack, "macro list")
    shown = str(listed["blocks"])
    assert "Refund policy" in shown and "Export tips" in shown and "used 0 times" in shown
    assert "&lt;b&gt;30 days&lt;/b&gt;" in shown  # customer-facing text is escaped for Slack
    removable = [b for b in listed["blocks"] if b.get("accessory", {}).get("action_id") == "macro.remove"]
    assert len(removable) == 1 and "Refund policy" in removable[0]["text"]["text"]  # only my own

    refused = await command(stack, "macro remove Refund policy", user=OTHER)
    assert "Only the macro's author or an admin" in refused["text"]
    missing = await command(stack, "macro remove No such thing")
    assert "no macro called" in missing["text"]
    by_admin = await command(stack, "macro remove export TIPS", user=ADMIN)
    assert "Removed the macro *Export tips*" in by_admin["text"]
    assert [m.name for m in await all_macros(stack)] == ["Refund policy"]

    # The list's Remove button works (a signed click on the ephemeral answer).
    button = removable[0]["accessory"]
    channel = stack.channels["default"]
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": AGENT},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
            "channel": {"id": channel},
            "actions": [
                {
                    "action_id": "macro.remove",
                    "block_id": removable[0].get("block_id", "x1"),
                    "type": "button",
                    "value": button["value"],
                    "action_ts": "1700000000.000001",
                }
            ],
            "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        }
    )
    assert response.status == 200
    await stack.slack.wait_for(
        lambda: any("Removed the macro" in e["text"] for e in stack.slack.ephemerals(channel, AGENT)),
        message="the removal is confirmed",
    )
    assert await all_macros(stack) == []
    assert "No macros yet" in (await command(stack, "macro list"))["text"]

    wrong = await command(stack, "macro frobnicate")
    assert "I don't know `/support macro frobnicate`" in wrong["text"] and "macro add" in wrong["text"]


async def test_add_without_text_opens_the_form(stack: Stack) -> None:
    before = len(stack.slack.modals)
    response = await stack.slash_command(
        "macro add Outage notice", user=AGENT, channel=stack.channels["default"]
    )
    assert response.status == 200
    form = await new_modal(stack, before, "the macro form opens")
    assert initial(form, Block.MACRO_NAME) == "Outage notice"

    refused = await submit(stack, form, values(**{Block.MACRO_NAME: " ", Block.MACRO_TEXT: ""}))
    errors = (await refused.json())["errors"]
    assert set(errors) == {Block.MACRO_NAME, Block.MACRO_TEXT}

    state = values(
        **{Block.MACRO_NAME: "Outage notice", Block.MACRO_TEXT: "We are down.", Block.MACRO_AREA: "Billing"}
    )
    saved = await (await submit(stack, form, state)).json()
    assert saved["response_action"] == "update" and "Saved the macro *Outage notice*" in str(saved["view"])
    (row,) = await all_macros(stack)
    assert (row.name, row.text, row.product_area) == ("Outage notice", "We are down.", "billing")
    taken = await submit(stack, form, state)
    assert "already" in (await taken.json())["errors"][Block.MACRO_NAME]


async def test_save_as_macro_from_a_sent_reply(stack: Stack) -> None:
    _, card = await new_card(stack)
    form = await open_form(stack, card)
    await submit(stack, form, values(**{Block.REPLY_TEXT: "Split the export by month for now."}))
    line = await wait_for_line(stack, card, "Sent to Acme (Dana Smith)")
    before = len(stack.slack.modals)
    await click(stack, {"channel": card["channel"], "ts": line["ts"]}, "macro.save", AGENT)
    modal = await new_modal(stack, before, "the save-as-macro form")
    assert initial(modal, Block.MACRO_NAME) == "Invoices export times out"
    assert initial(modal, Block.MACRO_TEXT) == "Split the export by month for now."
    assert initial(modal, Block.MACRO_AREA) == "reporting"
    state = values(
        **{
            Block.MACRO_NAME: "Invoices export times out",
            Block.MACRO_TEXT: "Split the export by month for now.",
            Block.MACRO_AREA: "reporting",
        }
    )
    await submit(stack, modal, state)
    (row,) = await all_macros(stack)
    assert (row.name, row.product_area, row.created_by) == ("Invoices export times out", "reporting", AGENT)


async def test_save_as_macro_from_a_wont_do_rationale(stack: Stack) -> None:
    issue_id, card = await new_card(stack, subject="Export to Lotus 1-2-3")
    problem_id = await stack.runtime.database.transaction(
        lambda conn: conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalar_one()
    )
    await stack.runtime.database.transaction(
        lambda conn: store_rationale(conn, problem_id, AGENT, "We no longer support Lotus formats.")
    )
    stack.runtime.deliverer.wake()
    note = await wait_for_line(stack, card, "explained why this won't be done")
    before = len(stack.slack.modals)
    await click(stack, {"channel": card["channel"], "ts": note["ts"]}, "macro.save", OTHER)
    modal = await new_modal(stack, before, "the save-as-macro form")
    assert initial(modal, Block.MACRO_NAME) == "Export to Lotus 1-2-3"
    assert initial(modal, Block.MACRO_TEXT) == "We no longer support Lotus formats."
    await submit(
        stack,
        modal,
        values(**{Block.MACRO_NAME: "No Lotus", Block.MACRO_TEXT: "We no longer support Lotus formats."}),
        user=OTHER,
    )
    assert [(m.name, m.created_by) for m in await all_macros(stack)] == [("No Lotus", OTHER)]


async def picker_options(stack: Stack, form: dict[str, Any], typed: str) -> list[dict[str, Any]]:
    block = next(
        b for b in form["blocks"] if any(e.get("action_id") == "reply.macro" for e in b.get("elements", []))
    )
    response = await stack.slack_interaction(
        {
            "type": "block_suggestion",
            "user": {"id": AGENT},
            "action_id": "reply.macro",
            "block_id": block["block_id"],
            "value": typed,
            "container": {"type": "view", "view_id": form["id"]},
            "view": form,
        }
    )
    assert response.status == 200
    return list((await response.json())["options"])


async def pick(stack: Stack, view: dict[str, Any], macro_id: int | str, name: str) -> None:
    """What Slack sends when a macro is chosen in the reply form's picker."""
    picker = next(b for b in view["blocks"] if b["type"] == "actions")
    option = {"text": {"type": "plain_text", "text": name}, "value": str(macro_id)}
    response = await stack.slack_interaction(
        {
            "type": "block_actions",
            "user": {"id": AGENT},
            "trigger_id": stack.slack.new_trigger_id(),
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
            "actions": [
                {
                    "action_id": "reply.macro",
                    "block_id": picker["block_id"],
                    "type": "external_select",
                    "selected_option": option,
                    "action_ts": "1700000000.000002",
                }
            ],
        }
    )
    assert response.status == 200


async def test_the_reply_form_picks_a_macro_fills_the_text_and_counts_the_use(stack: Stack) -> None:
    def seed(conn: Any) -> dict[str, int]:
        made = {
            "billing": macro_service.add_macro(
                conn, OTHER, "Alpha billing", "Your invoice is fixed.", "billing"
            ),
            "any": macro_service.add_macro(conn, OTHER, "Beta general", "Thanks for writing."),
            "mine": macro_service.add_macro(
                conn, OTHER, "Zeta export", "Split the export by month.", "reporting"
            ),
        }
        conn.execute(macros.update().where(macros.c.id == made["billing"].id).values(uses=10))
        conn.execute(macros.update().where(macros.c.id == made["any"].id).values(uses=5))
        return {k: m.id for k, m in made.items()}

    ids = await stack.runtime.database.transaction(seed)
    _, card = await new_card(stack)  # product area "reporting"
    form = await open_form(stack, card)

    options = await picker_options(stack, form, "")
    assert [o["text"]["text"].split(" · ")[0] for o in options] == [
        "Zeta export",
        "Alpha billing",
        "Beta general",
    ]
    assert [o["value"] for o in await picker_options(stack, form, "INVOICE")] == [str(ids["billing"])]

    # Something typed first: choosing a macro replaces it (a new field), still editable.
    chosen = copy.deepcopy(form)
    chosen["state"] = {"values": values(**{Block.REPLY_TEXT: "half-written"})}
    await pick(stack, chosen, ids["mine"], "Zeta export")

    def updated() -> dict[str, Any] | None:
        view = next(v for v in stack.slack.modals if v["id"] == form["id"])
        return view if any(b.get("block_id") == f"{Block.REPLY_TEXT}.1" for b in view["blocks"]) else None

    await stack.slack.wait_for(lambda: updated() is not None, message="the form is updated with the macro")
    filled = updated()
    assert filled is not None
    assert initial(filled, f"{Block.REPLY_TEXT}.1") == "Split the export by month."

    await submit(stack, filled, values(**{f"{Block.REPLY_TEXT}.1": "Split the export by month, Dana."}))
    await wait_for_line(stack, card, "Sent to Acme (Dana Smith)")
    reply = await stack.runtime.database.transaction(
        lambda conn: conn.execute(select(customer_replies)).one()
    )
    assert (reply.text, reply.macro_id) == ("Split the export by month, Dana.", ids["mine"])
    uses = {m.name: m.uses for m in await all_macros(stack)}
    assert uses == {"Alpha billing": 10, "Beta general": 5, "Zeta export": 1}


async def test_a_macro_removed_after_it_was_picked_leaves_the_reply_standing(stack: Stack) -> None:
    made = await stack.runtime.database.transaction(
        lambda conn: macro_service.add_macro(conn, AGENT, "Short lived", "We are on it.")
    )
    _, card = await new_card(stack)
    form = await open_form(stack, card)
    await pick(stack, form, made.id, "Short lived")
    filled_block = f"{Block.REPLY_TEXT}.1"
    await stack.slack.wait_for(
        lambda: any(
            b.get("block_id") == filled_block
            for b in next(v for v in stack.slack.modals if v["id"] == form["id"])["blocks"]
        ),
        message="the form is filled",
    )
    filled = next(v for v in stack.slack.modals if v["id"] == form["id"])
    assert "Short lived" in (await command(stack, "macro remove Short lived"))["text"]
    await submit(stack, filled, values(**{filled_block: "We are on it."}))
    await wait_for_line(stack, card, "Sent to Acme (Dana Smith)")
    reply = await stack.runtime.database.transaction(
        lambda conn: conn.execute(select(customer_replies)).one()
    )
    assert (reply.text, reply.macro_id, reply.state) == ("We are on it.", None, "sent")


async def test_forged_picker_requests_change_nothing(stack: Stack) -> None:
    _, card = await new_card(stack)
    form = await open_form(stack, card)
    for value in ("abc", "99999999999999999999", "-1", "٣"):
        await pick(stack, form, value, "forged")
    forged = copy.deepcopy(form)
    for block in forged["blocks"]:
        if block["type"] == "actions":
            block["block_id"] = '{"v":1,"issue":"1 OR 1=1"}'
    assert await picker_options(stack, forged, "%' OR 1=1 --") == []
    # A real pick afterwards is the form's first change: none of the forged ones changed it.
    made = await stack.runtime.database.transaction(
        lambda conn: macro_service.add_macro(conn, AGENT, "Real one", "Real text.")
    )
    await pick(stack, form, made.id, "Real one")

    def current() -> dict[str, Any]:
        return next(v for v in stack.slack.modals if v["id"] == form["id"])

    await stack.slack.wait_for(
        lambda: any(b.get("block_id") == f"{Block.REPLY_TEXT}.1" for b in current()["blocks"]),
        message="the real pick fills the form",
    )
    assert initial(current(), f"{Block.REPLY_TEXT}.1") == "Real text."
