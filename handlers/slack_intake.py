"""Logging customer issues from Slack: the message shortcut, `/support report`, and a reaction."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.domain.intake import Customer, IntakeRequest
from bot.domain.outbox import SlackMessageIntake
from bot.ids import INPUT, Block, Callback
from bot.runtime import Runtime
from bot.services import outbox
from bot.services.cards import problem_summaries
from bot.services.intake import ingest_issue
from bot.slack_text import slack_text_to_plain, subject_from_text
from bot.views.blocks import decode_state
from bot.views.escalation import SEARCH_SHOWN, SearchHit, render_search_results
from bot.views.notes import SUPPORT_USAGE, unknown_subcommand
from bot.views.report_modal import ReportPrefill, render_report_modal
from db.models import inbound_deliveries, utcnow
from db.queries import upsert_for
from db.session import DatabaseUnavailable
from handlers import digest

log = logging.getLogger(__name__)

# A view submission must be answered within 3 s; storing an issue takes milliseconds, so we store it
# before answering (the form stays open with an error if the database is away) and give up in time.
SUBMIT_BUDGET_SECONDS = 2.0


def _value(values: dict[str, Any], block: str) -> Any:
    element = values.get(block, {}).get(INPUT, {})
    if "selected_options" in element:
        return [option["value"] for option in element["selected_options"] or []]
    if "selected_option" in element:
        selected = element["selected_option"]
        return selected["value"] if selected else None
    value = element.get("value")
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_report_submission(view: dict[str, Any], user_id: str) -> IntakeRequest | dict[str, str]:
    """The modal's values as an IntakeRequest, or Slack `errors` keyed by block id."""
    values = view.get("state", {}).get("values", {})
    state = decode_state(view.get("private_metadata"))
    subject = _value(values, Block.REPORT_SUBJECT)
    body = _value(values, Block.REPORT_BODY) or ""
    name = _value(values, Block.REPORT_CUSTOMER_NAME)
    email = _value(values, Block.REPORT_CUSTOMER_EMAIL)
    company = _value(values, Block.REPORT_CUSTOMER_COMPANY)
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
    external_id = f"{channel}:{ts}" if channel and ts else f"form:{view.get('id') or uuid.uuid4().hex}"
    try:
        return IntakeRequest.model_validate(
            {
                "external_id": external_id,
                "source": "slack",
                "subject": subject,
                "body": body,
                "customer": customer,
                "product_area": _value(values, Block.REPORT_PRODUCT_AREA),
                "severity": _value(values, Block.REPORT_SEVERITY) or "normal",
                "tags": _value(values, Block.REPORT_TAGS) or [],
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
    try:
        async with asyncio.timeout(SEARCH_BUDGET_SECONDS):
            matches = await runtime.search.search(query, limit=SEARCH_SHOWN)
            ids = [m.problem_id for m in matches]
            rows = await runtime.database.transaction(lambda conn: problem_summaries(conn, ids))
    except (DatabaseUnavailable, TimeoutError):
        text = "Search is unavailable right now (database unavailable). Try again in a moment."
        return [], text
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
        )
        for r in rows
    ]
    return render_search_results(query, hits)


def register(app: AsyncApp, runtime: Runtime) -> None:
    config = runtime.config

    async def open_report_modal(trigger_id: str, prefill: ReportPrefill) -> None:
        assert runtime.slack is not None
        view = render_report_modal(prefill, [s.value for s in config.severities], config.tags)
        await runtime.slack.open_view(trigger_id, view)

    @app.shortcut(Callback.LOG_MESSAGE_SHORTCUT)
    async def log_message_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        message = body.get("message", {})
        text = slack_text_to_plain(str(message.get("text") or ""))
        prefill = ReportPrefill(
            subject=subject_from_text(text) if text else "",
            body=text,
            channel=body.get("channel", {}).get("id"),
            message_ts=message.get("ts"),
            author=message.get("user"),
        )
        await open_report_modal(body["trigger_id"], prefill)

    @app.command("/support")
    async def support_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        words = str(command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub == "report":
            await ack()
            await open_report_modal(command["trigger_id"], ReportPrefill(channel=command.get("channel_id")))
        elif sub == "search":
            query = " ".join(words[1:])
            if not query:
                await ack(text="Search for what? For example: `/support search invoice pdf blank`")
                return
            blocks, text = await search_issues(runtime, query)
            await ack(text=text, blocks=blocks)  # a slash command's answer is seen only by who asked
        elif sub == "digest":
            await digest.answer_command(runtime, ack, words[1:])
        elif sub == "help":
            await ack(text=SUPPORT_USAGE)
        else:
            await ack(text=unknown_subcommand(sub))

    @app.view(Callback.REPORT_MODAL)
    async def report_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        parsed = parse_report_submission(view, user)
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        state = decode_state(view.get("private_metadata"))
        confirm_to = (state["channel"], user) if state.get("channel") else None
        try:
            await asyncio.wait_for(
                ingest_issue(runtime.database, config, parsed, reported_by=user, confirm_to=confirm_to),
                timeout=SUBMIT_BUDGET_SECONDS,
            )
        except (DatabaseUnavailable, TimeoutError):
            log.warning("report form not stored: database unavailable")
            await ack(
                response_action="errors",
                errors={Block.REPORT_SUBJECT: "Couldn't save right now (database unavailable). Try again."},
            )
            return
        await ack()
        runtime.deliverer.wake()

    async def is_intake_reaction(event: dict[str, Any]) -> bool:
        item = event.get("item", {})
        channels = config.slack_intake.monitored_channels
        return (
            event.get("reaction") == config.slack_intake.reaction
            and item.get("type") == "message"
            and (not channels or item.get("channel") in channels)
        )

    async def durable_reaction(
        body: dict[str, Any], next: Any, context: AsyncBoltContext
    ) -> BoltResponse | None:
        """Record the event and its work before Slack gets its 200: a database outage answers 503 so
        Slack retries, and a retry of an event already taken changes nothing."""
        event = body["event"]
        item = event["item"]
        key = f"slack:event:{body.get('event_id')}"
        work_item = SlackMessageIntake(channel=item["channel"], ts=item["ts"], user=event["user"])

        def record(conn: Connection) -> bool:
            taken = conn.execute(
                upsert_for(conn, inbound_deliveries)
                .values(key=key, received_at=utcnow())
                .on_conflict_do_nothing()
                .returning(inbound_deliveries.c.key)
            ).scalar()
            if taken is None:
                return False  # a retry of an event already taken
            outbox.enqueue_in(
                conn,
                work_item,
                dedupe_key=f"slack_msg:{item['channel']}:{item['ts']}",
            )
            return True

        try:
            if not await runtime.database.transaction(record):
                return BoltResponse(status=200, body="")
        except IntegrityError:
            return BoltResponse(status=200, body="")  # the same event, taken by a concurrent retry
        except DatabaseUnavailable:
            log.warning("reaction not stored: database unavailable; Slack will retry")
            return BoltResponse(status=503, body="")
        await next()
        return None

    @app.event("reaction_added", matchers=[is_intake_reaction], middleware=[durable_reaction])
    async def reaction_logged() -> None:
        runtime.deliverer.wake()
