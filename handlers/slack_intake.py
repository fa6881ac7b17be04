"""Logging customer issues from Slack: the message shortcut, `/support report`, and a reaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.domain.intake import Customer, IntakeRequest
from bot.domain.outbox import SlackMessageIntake
from bot.ids import Block, Callback
from bot.metrics import count_taken
from bot.runtime import Runtime
from bot.services.cards import problem_summaries
from bot.services.intake import IntakeResult, ingest_issue, take_slack_message
from bot.slack_text import email_in_text, helpdesk_ticket_in_text, slack_text_to_plain, subject_from_text
from bot.views.escalation import SEARCH_SHOWN, SearchHit, render_search_results
from bot.views.notes import SUPPORT_USAGE, unknown_subcommand
from bot.views.report_modal import ReportPrefill, render_report_modal
from db.queries.deliveries import delivery_key
from db.session import DatabaseUnavailable, answer_within
from handlers import digest, macros, payload
from handlers.common import ACK_DEADLINE_SECONDS, Refused, answer_form, attempt, runtime_of

log = logging.getLogger(__name__)

# A view submission must be answered within 3 s; storing an issue takes milliseconds, so we store it
# before answering (the form stays open with an error if the database is away) and give up in time.
SUBMIT_BUDGET_SECONDS = 2.0


def _value(element: payload.Input) -> Any:
    """A multi select's values, a select's value, or the text typed (None when empty)."""
    if element.is_multi_select:
        return list(element.selected_all)
    if element.is_select:
        return element.selected
    return element.stripped


def parse_report_submission(view: payload.View) -> IntakeRequest | dict[str, str]:
    """The modal's values as an IntakeRequest, or Slack `errors` keyed by block id."""
    state = view.metadata
    subject = _value(view.input(Block.REPORT_SUBJECT))
    body = _value(view.input(Block.REPORT_BODY)) or ""
    name = _value(view.input(Block.REPORT_CUSTOMER_NAME))
    email = _value(view.input(Block.REPORT_CUSTOMER_EMAIL))
    company = _value(view.input(Block.REPORT_CUSTOMER_COMPANY))
    author = state.get("author")
    errors: dict[str, str] = {}
    if not subject:
        errors[Block.REPORT_SUBJECT] = "A subject is needed."
    if email and ("@" not in email or " " in email):
        errors[Block.REPORT_CUSTOMER_EMAIL] = "Enter an e-mail address like name@example.com."
    if not (name or email or author):
        errors[Block.REPORT_CUSTOMER_NAME] = "Name the customer, or give their e-mail."
    if errors:
        return errors
    if name or email:
        customer = Customer(id=email or f"name:{name.lower()}", name=name, email=email, company=company)
    else:
        customer = Customer(id=str(author), slack_user_id=author, company=company)
    channel, ts = state.get("channel"), state.get("ts")
    # One issue per Slack message, whichever way it is logged; a form without a message is one issue
    # per form (Slack re-sends the same view id if it retries a submission).
    external_id = f"{channel}:{ts}" if channel and ts else f"form:{view.view_id or uuid.uuid4().hex}"
    try:
        return IntakeRequest.model_validate(
            {
                "external_id": external_id,
                "source": "slack",
                "subject": subject,
                "body": body,
                "customer": customer,
                "product_area": _value(view.input(Block.REPORT_PRODUCT_AREA)),
                "severity": _value(view.input(Block.REPORT_SEVERITY)) or "normal",
                "tags": _value(view.input(Block.REPORT_TAGS)) or [],
                "origin_channel": channel if ts else None,
                "origin_ts": ts,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        return {Block.REPORT_SUBJECT: f"{'.'.join(map(str, first['loc']))}: {first['msg']}"}


SEARCH_BUDGET_SECONDS = 2.0


async def search_issues(runtime: Runtime, query: str) -> tuple[list[dict[str, Any]], str]:
    """`/support search`: the best matching past and open problems."""

    async def find() -> list[Any]:
        matches = await runtime.search.search(query, limit=SEARCH_SHOWN)
        ids = [m.problem_id for m in matches]
        return await runtime.database.transaction(lambda conn: problem_summaries(conn, ids))

    rows = await attempt(
        runtime,
        find(),
        what="search",
        unavailable="Search is unavailable right now (database unavailable). Try again in a moment.",
        within=SEARCH_BUDGET_SECONDS,
    )
    if isinstance(rows, Refused):
        return [], rows.text
    hits = [
        SearchHit(
            issue_id=r.primary_issue_id,
            subject=r.subject,
            status=r.status,
            customers=int(r.customers),
            reports=int(r.reports),
            jira_key=r.jira_key,
            jira_url=r.jira_url,
            jira_status=r.jira_status,
            card_link=r.permalink,
            channel=r.channel,
            wont_do=runtime.config.jira.is_wont_do(r.jira_resolution),
            rationale=r.rationale,
        )
        for r in rows
    ]
    return render_search_results(query, hits)


async def open_report_modal(runtime: Runtime, trigger_id: str, prefill: ReportPrefill) -> None:
    assert runtime.slack is not None
    config = runtime.config
    view = render_report_modal(prefill, [s.value for s in config.severities], config.tags)
    await runtime.slack.open_view(trigger_id, view)


async def log_message_shortcut(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    shortcut = payload.MessageShortcut.from_body(body)
    text = slack_text_to_plain(shortcut.message_text)
    prefill = ReportPrefill(
        subject=subject_from_text(text) if text else "",
        body=text,
        channel=shortcut.channel_id,
        message_ts=shortcut.message_ts,
        author=shortcut.message_user if shortcut.from_another_workspace else None,
        customer_email=email_in_text(text),
        customer_name="" if email_in_text(text) else helpdesk_ticket_in_text(text),
    )
    await open_report_modal(runtime_of(context), shortcut.trigger_id, prefill)


async def support_command(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    command = payload.Command.from_body(body)
    words = command.words
    sub = words[0].lower() if words else "help"
    if sub == "report":
        await ack()
        prefill = ReportPrefill(channel=command.channel_id)
        await open_report_modal(runtime, command.require_trigger(), prefill)
    elif sub == "search":
        query = " ".join(words[1:])
        if not query:
            await ack(text="Search for what? For example: `/support search invoice pdf blank`")
            return
        blocks, text = await search_issues(runtime, query)
        await ack(text=text, blocks=blocks)  # a slash command's answer is seen only by who asked
    elif sub == "digest":
        await digest.answer_command(runtime, ack, words[1:])
    elif sub == "macro":
        await macros.answer_command(runtime, ack, command)
    elif sub == "help":
        await ack(text=SUPPORT_USAGE)
    else:
        await ack(text=unknown_subcommand(sub))


async def report_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    user = view.user_id
    parsed = parse_report_submission(view)
    if isinstance(parsed, dict):
        await ack(response_action="errors", errors=parsed)
        return
    channel = view.metadata.get("channel")
    confirm_to = (channel, user) if channel else None
    stored = await attempt(
        runtime,
        ingest_issue(runtime.database, runtime.config, parsed, reported_by=user, confirm_to=confirm_to),
        what="report_form",
        within=SUBMIT_BUDGET_SECONDS,
    )
    if isinstance(stored, IntakeResult):
        count_taken("slack", stored.created)
    await answer_form(ack, stored, Block.REPORT_SUBJECT)


async def is_intake_reaction(body: dict[str, Any], context: AsyncBoltContext) -> bool:
    config = runtime_of(context).config
    reaction = payload.Reaction.from_body(body)
    channels = config.slack_intake.monitored_channels
    return (
        reaction.reaction == config.slack_intake.reaction
        and reaction.item_type == "message"
        and (not channels or reaction.channel_id in channels)
    )


async def durable_reaction(
    body: dict[str, Any], next: Callable[[], Awaitable[None]], context: AsyncBoltContext
) -> BoltResponse | None:
    """Record the event and its work before Slack gets its 200: a database outage answers 503 so
    Slack retries, and a retry of an event already taken changes nothing."""
    runtime = runtime_of(context)
    reaction = payload.Reaction.from_body(body)
    channel, ts, user = reaction.message
    # Slack gives every event an id; without one, the same person's reaction on the same message is one.
    key = delivery_key("slack:event:", reaction.event_id or f"{channel}:{ts}:{user}")
    work_item = SlackMessageIntake(channel=channel, ts=ts, user=user, team=reaction.team_id)

    try:
        # A hung database: 503 within Slack's 3 s, and Slack retries.
        taken = await answer_within(
            take_slack_message(runtime.database, key, work_item), ACK_DEADLINE_SECONDS
        )
        if not taken:
            return BoltResponse(status=200, body="")  # a retry of an event already taken
    except (DatabaseUnavailable, TimeoutError):
        log.warning("reaction not stored: database unavailable; Slack will retry")
        return BoltResponse(status=503, body="")
    await next()
    return None


async def reaction_logged(context: AsyncBoltContext) -> None:
    runtime_of(context).deliverer.wake()


def register(app: AsyncApp) -> None:
    app.shortcut(Callback.LOG_MESSAGE_SHORTCUT)(log_message_shortcut)
    app.command("/support")(support_command)
    app.view(Callback.REPORT_MODAL)(report_submitted)
    app.event("reaction_added", matchers=[is_intake_reaction], middleware=[durable_reaction])(reaction_logged)
