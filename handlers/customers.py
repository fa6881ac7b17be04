""" "Set customer" on a card: name who the customer of a report logged from Slack is."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain.intake import Customer
from bot.ids import Action, Block, Callback
from bot.services.customers import set_customer
from bot.views.customers import render_set_customer_modal
from handlers import payload
from handlers.common import answer_form, perform, runtime_of

log = logging.getLogger(__name__)


def parse_customer(view: payload.View) -> Customer | dict[str, str]:
    """The modal's answers as a Customer, or Slack `errors` keyed by block id."""
    name = view.input(Block.CUSTOMER_NAME).stripped
    email = view.input(Block.CUSTOMER_EMAIL).stripped
    company = view.input(Block.CUSTOMER_COMPANY).stripped
    if email and ("@" not in email or " " in email or email.startswith("@") or email.endswith("@")):
        return {Block.CUSTOMER_EMAIL: "Enter an e-mail address like name@example.com."}
    if not (name or email):
        return {Block.CUSTOMER_NAME: "Name the customer, or give their e-mail."}
    try:
        return Customer(id=email or f"name:{str(name).lower()}", name=name, email=email, company=company)
    except ValidationError:
        return {Block.CUSTOMER_NAME: "That is too long for a customer's name."}


async def on_set_customer(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    clicked = payload.Action.from_body(body)
    issue_id = clicked.state_int("issue")
    runtime = runtime_of(context)
    if issue_id is None or runtime.slack is None:
        log.info("set customer click without an issue id", extra={"action_id": clicked.action_id})
        return
    await runtime.slack.open_view(clicked.require_trigger(), render_set_customer_modal(issue_id))


async def customer_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    issue_id = view.metadata_int("issue")
    if issue_id is None:
        await ack(response_action="errors", errors={Block.CUSTOMER_NAME: "This form has expired."})
        return
    parsed = parse_customer(view)
    if isinstance(parsed, dict):
        await ack(response_action="errors", errors=parsed)
        return
    user = view.user_id
    outcome = await perform(
        runtime,
        lambda conn: set_customer(conn, runtime.config, issue_id, user, parsed),
        what="set_customer",
    )
    await answer_form(ack, outcome, Block.CUSTOMER_NAME)


def register(app: AsyncApp) -> None:
    app.action(Action.SET_CUSTOMER)(on_set_customer)
    app.view(Callback.SET_CUSTOMER_MODAL)(customer_submitted)
