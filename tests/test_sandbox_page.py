"""The sandbox's page API, used as the page uses it: every click becomes a signed request that the real bot
accepts, and what the bot does shows in the fake workspace the page renders."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import Action, Block, Callback
from db.models import SlackMessage
from sandbox.fakes.slack_api import FakeSlack
from sandbox.signed import Secrets, SignedSender
from sandbox.workspace import YOU
from tests.harness import add_channels, control, running_app
from tests.sandbox_harness import RunningSandbox, running_sandbox

MAYA = "U0SBXMAYA01"


@pytest.fixture
async def sbx(database_url: str) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(database_url) as running:
        yield running


def intake_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "subject": "Invoices export times out",
        "body": "Exporting more than 1000 invoices never finishes.",
        "customer_name": "Dana Smith",
        "customer_email": "dana@acme.test",
        "company": "Acme",
        "plan": "Pro",
        "product_area": "reporting",
        "severity": "normal",
        "source": "webform",
        "tags": ["bug"],
    }
    form.update(overrides)
    return form


async def submitted_card(sbx: RunningSandbox, **overrides: Any) -> tuple[int, dict[str, Any]]:
    answer = await sbx.api("/sandbox/api/intake", intake_form(**overrides))
    assert answer["ok"] and answer["status"] == 202
    number = int(answer["id"])
    card = await sbx.wait_for(lambda: sbx.card_of(number), f"the card of #{number}")
    return number, card


async def use(
    sbx: RunningSandbox, card: dict[str, Any], action_id: str, user: str = YOU.user_id, **chosen: Any
) -> None:
    """What the page sends when someone uses a control of a card."""
    current = sbx.sandbox.slack.message(sbx.default_channel(), card["ts"])
    block, element = control(current, action_id)
    action = {"action_id": action_id, "block_id": block.get("block_id"), "type": element["type"], **chosen}
    if "value" in element:
        action["value"] = element["value"]
    surface = {"kind": "message", "channel": sbx.default_channel(), "ts": card["ts"]}
    answer = await sbx.api("/sandbox/api/action", {"as": user, "surface": surface, "action": action})
    assert answer == {"ok": True, "status": 200}


def card_now(sbx: RunningSandbox, card: dict[str, Any]) -> str:
    return sbx.shown(sbx.sandbox.slack.message(sbx.default_channel(), card["ts"]))


def thread_text(sbx: RunningSandbox, card: dict[str, Any]) -> str:
    replies = sbx.sandbox.slack.thread(sbx.default_channel(), card["ts"])[1:]
    return "\n".join(sbx.shown(m) + m.get("text", "") for m in replies)


async def test_the_page_is_served_and_says_it_is_the_sandbox(sbx: RunningSandbox) -> None:
    page = await sbx.http.get(sbx.url + "/")
    html = await page.text()
    assert page.status == 200 and "SANDBOX MODE" in html
    script = await sbx.http.get(sbx.url + "/sandbox/static/app.js")
    assert script.status == 200 and "EventSource" in await script.text()
    state = await sbx.state()
    assert state["mode"] == "sandbox"
    assert state["me"] == YOU.user_id
    names = {c["name"] for c in state["channels"]}
    assert {"customer-issues", "urgent-issues", "billing-issues", "support-shadowing"} <= names
    assert {"You", "Maya Okafor"} <= {p["real_name"] for p in state["people"]}
    assert state["names"]["groups"]["S0SBXHOSTS"] == "support-hosts"


async def test_real_slack_mode_serves_no_page(database_url: str, slack: FakeSlack) -> None:
    async with running_app(database_url, slack, add_channels(slack)) as stack:
        for path in ("/", "/sandbox/api/state", "/sandbox/static/app.js"):
            response = await stack.http.get(stack.url(path))
            assert response.status == 404, path
        refused = await stack.http.post(stack.url("/sandbox/api/demo"), json={})
        assert refused.status in (404, 405)


async def test_submit_tag_claim_escalate_then_done_in_jira_lists_the_customers(sbx: RunningSandbox) -> None:
    _, card = await submitted_card(sbx)
    assert "Invoices export times out" in card_now(sbx, card)

    bug = {"text": {"type": "plain_text", "text": "bug"}, "value": "bug"}
    performance = {"text": {"type": "plain_text", "text": "performance"}, "value": "performance"}
    await use(sbx, card, Action.SET_TAGS, selected_options=[bug, performance])
    await sbx.wait_for(lambda: "`performance`" in card_now(sbx, card), "the tag on the card")

    await use(sbx, card, Action.CLAIM)
    await sbx.wait_for(lambda: f"<@{YOU.user_id}>" in card_now(sbx, card), "the claim on the card")

    await use(sbx, card, Action.ESCALATE)
    await sbx.wait_for(lambda: "SUP-1" in card_now(sbx, card), "the Jira key on the card")
    assert sbx.sandbox.jira.issue("SUP-1")["fields"]["summary"] == "Invoices export times out"

    moved = await sbx.api("/sandbox/api/jira/SUP-1", {"move": "Done"})
    assert moved["ok"] and moved["status"] == 200
    await sbx.wait_for(lambda: "Customers to tell" in thread_text(sbx, card), "the customers to tell")
    assert "Dana Smith" in thread_text(sbx, card)
    state = await sbx.state()
    assert [(i["key"], i["status"]) for i in state["jira"]["issues"]] == [("SUP-1", "Done")]


async def test_a_slash_command_answer_is_shown_only_to_who_typed_it(sbx: RunningSandbox) -> None:
    channel = sbx.default_channel()
    answer = await sbx.api(
        "/sandbox/api/compose", {"as": YOU.user_id, "channel": channel, "text": "/support help"}
    )
    assert answer["ok"]
    mine = (await sbx.state(YOU.user_id, channel))["conversation"]["ephemerals"]
    assert any("/support" in e["text"] for e in mine)
    assert (await sbx.state(MAYA, channel))["conversation"]["ephemerals"] == []

    unknown = await sbx.api("/sandbox/api/compose", {"as": YOU.user_id, "channel": channel, "text": "/nope"})
    assert unknown["ok"] is False
    mine = (await sbx.state(YOU.user_id, channel))["conversation"]["ephemerals"]
    assert "/nope is not a command of this app" in mine[-1]["text"]


async def test_a_modal_opens_shows_the_bots_errors_and_submits(sbx: RunningSandbox) -> None:
    channel = sbx.default_channel()
    await sbx.api("/sandbox/api/compose", {"as": YOU.user_id, "channel": channel, "text": "/support report"})
    modals = await sbx.wait_for(lambda: sbx.sandbox.slack.modal_stack(YOU.user_id), "the report modal")
    view = modals[-1]
    assert view["callback_id"] == Callback.REPORT_MODAL
    assert (await sbx.state(MAYA))["modals"] == []  # a modal is seen only by whoever opened it

    refused = await sbx.api("/sandbox/api/submit", {"as": YOU.user_id, "view_id": view["id"], "values": {}})
    assert refused["ok"] is False and refused["errors"]
    assert sbx.sandbox.slack.modal_stack(YOU.user_id)  # still open, showing the errors

    def typed(value: str) -> dict[str, Any]:
        return {"value": {"type": "plain_text_input", "value": value}}

    values = {
        Block.REPORT_SUBJECT: typed("Dashboard is blank on Safari"),
        Block.REPORT_BODY: typed("Since the update the dashboard shows nothing on Safari 17."),
        Block.REPORT_CUSTOMER_NAME: typed("Grace Kim"),
        Block.REPORT_CUSTOMER_EMAIL: typed("grace@pinecone.test"),
    }
    done = await sbx.api("/sandbox/api/submit", {"as": YOU.user_id, "view_id": view["id"], "values": values})
    assert done == {"ok": True, "status": 200}
    assert sbx.sandbox.slack.modal_stack(YOU.user_id) == []
    await sbx.wait_for(lambda: sbx.card_of(1), "the reported card")


async def test_same_problem_as_searches_as_you_type_and_merges(sbx: RunningSandbox) -> None:
    first, _ = await submitted_card(sbx, customer_email="dana@acme.test")
    # Unlike the first (a paraphrase would join it on arrival: the sandbox turns auto-merge on).
    second, card = await submitted_card(
        sbx,
        subject="Exports hang forever",
        body="The progress bar stops at 99% and nothing downloads.",
        customer_name="Tom",
        customer_email="tom@alpenrad.test",
    )
    current = sbx.sandbox.slack.message(sbx.default_channel(), card["ts"])
    block, _ = control(current, Action.MERGE_INTO)
    surface = {"kind": "message", "channel": sbx.default_channel(), "ts": card["ts"]}
    typed = {"action_id": Action.MERGE_INTO, "block_id": block.get("block_id"), "value": f"#{first}"}
    found = await sbx.api("/sandbox/api/suggest", {"as": YOU.user_id, "surface": surface, **typed})
    options = found.get("options") or [o for g in found.get("option_groups", []) for o in g["options"]]
    assert str(first) in [o["value"] for o in options]
    chosen = next(o for o in options if o["value"] == str(first))
    await use(sbx, card, Action.MERGE_INTO, selected_option=chosen)
    await sbx.wait_for(lambda: f"Merged into #{first}" in card_now(sbx, card), "the merge on the card")
    first_card = sbx.card_of(first)
    assert first_card is not None and "2 customers" in sbx.shown(first_card), second


async def test_a_paraphrase_joins_its_problem_on_arrival(sbx: RunningSandbox) -> None:
    """The sandbox turns on matching.auto_merge: the same problem in other words gets no card of its
    own, a "+1" line in the problem's thread and the customer counted on its card."""
    first, card = await submitted_card(sbx, subject="Invoice export times out for large accounts")
    answer = await sbx.api(
        "/sandbox/api/intake",
        intake_form(
            subject="Invoices export times out for big accounts",
            customer_name="Tom",
            customer_email="tom@alpenrad.test",
            company="Alpenrad",
        ),
    )
    second = int(answer["id"])
    await sbx.wait_for(lambda: "2 customers" in card_now(sbx, card), "counted on the first card")
    thread = await sbx.wait_for(
        lambda: sbx.sandbox.slack.thread(sbx.default_channel(), card["ts"])[1:], "the +1 line"
    )
    assert any("+1 from *Alpenrad*" in json.dumps(m["blocks"]) for m in thread)
    assert sbx.card_of(second) is None and first != second


async def test_what_people_type_is_escaped_like_slacks_clients_do(sbx: RunningSandbox) -> None:
    channel = sbx.default_channel()
    await sbx.api("/sandbox/api/compose", {"as": MAYA, "channel": channel, "text": "<!channel> look & see"})
    message = sbx.sandbox.slack.messages(channel)[-1]
    assert message["text"] == "&lt;!channel&gt; look &amp; see"
    assert message["user"] == MAYA


async def test_a_reply_in_the_cards_thread_is_its_first_response(sbx: RunningSandbox) -> None:
    number, card = await submitted_card(sbx)
    assert "First response due" in card_now(sbx, card)

    async def recorded() -> bool:  # a person answers a card the bot has recorded having posted
        async with sbx.runtime.database.session() as session:
            return (
                await session.scalar(select(SlackMessage.id).where(SlackMessage.issue_id == number))
                is not None
            )

    await sbx.wait_for(recorded, "the card recorded")
    reply = {
        "as": MAYA,
        "channel": sbx.default_channel(),
        "text": "On it, which invoices?",
        "thread_ts": card["ts"],
    }
    assert (await sbx.api("/sandbox/api/compose", reply))["ok"]
    await sbx.wait_for(
        lambda: f"First response by <@{MAYA}>" in card_now(sbx, card), "the card says who answered"
    )
    assert "First response due" not in card_now(sbx, card)


async def test_a_message_is_logged_with_the_shortcut_and_with_the_reaction(sbx: RunningSandbox) -> None:
    channel = sbx.default_channel()
    await sbx.api(
        "/sandbox/api/compose", {"as": MAYA, "channel": channel, "text": "Customer says SSO is down"}
    )
    ts = sbx.sandbox.slack.messages(channel)[-1]["ts"]
    await sbx.api(
        "/sandbox/api/shortcut",
        {"as": YOU.user_id, "channel": channel, "ts": ts, "callback_id": Callback.LOG_MESSAGE_SHORTCUT},
    )
    modal = await sbx.wait_for(lambda: sbx.sandbox.slack.modal_stack(YOU.user_id), "the prefilled form")
    assert "SSO is down" in sbx.shown({"blocks": modal[-1]["blocks"]})

    reacted = await sbx.api("/sandbox/api/react", {"as": YOU.user_id, "channel": channel, "ts": ts})
    assert reacted["ok"]
    await sbx.wait_for(lambda: sbx.card_of(1), "the card of the reacted message")


async def test_requests_signed_with_another_secret_are_refused(sbx: RunningSandbox) -> None:
    """The sandbox does not get around the bot's checks: its requests pass because they are signed."""
    made = sbx.sandbox.sender.secrets
    wrong = Secrets(
        slack_token=made.slack_token,
        slack_signing_secret="not-the-secret",
        intake_secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
        jira_api_token=made.jira_api_token,
        jira_webhook_secret="not-the-secret",
    )
    forger = SignedSender(wrong, sbx.sandbox.slack.team_id, sbx.sandbox.slack.app_id)
    forger.bot_url = sbx.url
    try:
        assert (await forger.intake({"external_id": "x"})).status == 401
        assert (await forger.jira_webhook({"webhookEvent": "jira:issue_updated"})).status == 401
        slash = await forger.slash_command(
            "/support", "help", user=YOU.user_id, user_name="you", channel="C0SBX000001",
            channel_name="customer-issues", trigger="1.2.3",
        )  # fmt: skip
        assert slash.status == 401
    finally:
        await forger.close()


async def test_opening_home_publishes_the_home_tab(sbx: RunningSandbox) -> None:
    answer = await sbx.api("/sandbox/api/home", {"as": YOU.user_id})
    assert answer["ok"]
    await sbx.wait_for(lambda: YOU.user_id in sbx.sandbox.slack.home_views, "the Home tab")
    state = await sbx.state()
    assert state["home"]["type"] == "home" and state["home"]["blocks"]
    # You are in the sandbox's `leads_group`: your Home has the lead view.
    assert "Lead view" in json.dumps(state["home"]["blocks"])


async def test_the_page_refuses_what_slack_could_not_have_sent(sbx: RunningSandbox) -> None:
    surface = {"kind": "message", "channel": sbx.default_channel(), "ts": "1.000001"}
    refused = await sbx.api(
        "/sandbox/api/action",
        {"as": YOU.user_id, "surface": surface, "action": {"action_id": Action.CLAIM}},
        status=400,
    )
    assert "no message" in refused["detail"]
    await sbx.api("/sandbox/api/action", {"as": "U0NOBODY", "surface": surface, "action": {}}, status=400)
    await sbx.api("/sandbox/api/jira/SUP-99", {"move": "Done"}, status=400)


async def test_the_digest_is_previewed_posted_and_its_chart_shown_on_the_page(sbx: RunningSandbox) -> None:
    """`/support digest` from the composer, **Post to the digest channel** on the preview, and the trend
    chart the bot uploads into the digest's thread served to the page."""
    await sbx.api("/sandbox/api/demo", {})
    channel = sbx.default_channel()
    answer = await sbx.api(
        "/sandbox/api/compose", {"as": YOU.user_id, "channel": channel, "text": "/support digest"}
    )
    assert answer["ok"]
    preview = (await sbx.state(YOU.user_id, channel))["conversation"]["ephemerals"][-1]
    assert "Weekly digest" in preview["text"]
    block, element = control(preview, Action.DIGEST_POST)
    action = {"action_id": Action.DIGEST_POST, "block_id": block.get("block_id"), "type": "button"}
    action["value"] = element["value"]
    surface = {"kind": "ephemeral", "channel": channel, "ts": preview["ts"]}
    posted = await sbx.api("/sandbox/api/action", {"as": YOU.user_id, "surface": surface, "action": action})
    assert posted == {"ok": True, "status": 200}

    slack = sbx.sandbox.slack
    digest = sbx.runtime.config.channels.digest
    assert digest is not None
    await sbx.wait_for(lambda: slack.files, "the trend chart uploaded")
    (file_id,) = slack.files
    top = slack.messages(digest)[-1]
    assert "digest" in top["text"].lower()
    shown = (await sbx.state(YOU.user_id, digest))["conversation"]["messages"][-1]
    chart = next(r for r in shown["replies"] if r.get("files"))
    assert chart["files"][0]["alt_txt"].startswith("Line chart")
    response = await sbx.http.get(f"{sbx.url}/sandbox/api/files/{file_id}?token={sbx.sandbox.page_token}")
    assert response.status == 200 and response.content_type == "image/png"
    assert (await response.read()).startswith(b"\x89PNG")


async def test_signing_up_from_the_shadow_list_rewrites_the_list_in_place(sbx: RunningSandbox) -> None:
    """`/shadow` in the composer, then **Sign up** on its answer: the same ephemeral message now says
    you are booked (the click's response URL, served by the fake Slack)."""
    from bot.services import shadowing as svc
    from db.models import utcnow

    runtime = sbx.runtime  # the recurring sessions, without waiting for the scheduler's first tick
    await runtime.database.transaction(lambda conn: svc.materialize(conn, runtime.config, utcnow()))
    channel = sbx.default_channel()
    answer = await sbx.api("/sandbox/api/compose", {"as": YOU.user_id, "channel": channel, "text": "/shadow"})
    assert answer["ok"]
    listing = (await sbx.state(YOU.user_id, channel))["conversation"]["ephemerals"][-1]
    block, element = control(listing, Action.SHADOW_SIGN_UP)
    action = {
        "action_id": Action.SHADOW_SIGN_UP,
        "block_id": block.get("block_id"),
        "type": "button",
        "value": element["value"],
    }
    surface = {"kind": "ephemeral", "channel": channel, "ts": listing["ts"]}
    clicked = await sbx.api("/sandbox/api/action", {"as": YOU.user_id, "surface": surface, "action": action})
    assert clicked == {"ok": True, "status": 200}

    async def rewritten() -> dict[str, Any] | None:
        mine = (await sbx.state(YOU.user_id, channel))["conversation"]["ephemerals"]
        same = next(e for e in mine if e["ts"] == listing["ts"])
        return same if "You're booked for" in sbx.shown(same) else None

    now = None
    for _ in range(100):
        now = await rewritten()
        if now is not None:
            break
        await asyncio.sleep(0.1)
    assert now is not None, "the /shadow list was not rewritten after the click"
    assert "Your sessions" in sbx.shown(now) and Action.SHADOW_CANCEL in sbx.shown(now)
    assert sbx.sandbox.slack.violations == []
