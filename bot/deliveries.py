"""Outbox handlers that talk to Slack: they load stored state, render it with a view, and call Slack
through our gateway. Each is idempotent: it may run again after a crash or a retry."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.intake import Customer, IntakeRequest
from bot.services import outbox
from bot.services.cards import CARD, CUSTOMER_LIST, load_card_state, load_customer_list
from bot.services.intake import ingest_issue
from bot.services.problem_search import ProblemSearch
from bot.services.triage import customers_of
from bot.views.blocks import truncate
from bot.views.escalation import render_customer_list, render_rationale_request
from bot.views.issue_card import IssueCard, render_issue_card
from bot.views.notes import intake_confirmation, render_email_reply, render_triage_note
from db.models import issue_events, issues, problems, slack_messages, utcnow
from db.session import Database
from integrations.slack import SlackCallError, SlackGateway, SlackTransientError

log = logging.getLogger(__name__)

# Codes meaning the message or channel is gone for good: retrying cannot help.
GONE = {"channel_not_found", "message_not_found", "thread_not_found", "is_archived"}


def slack_text_to_plain(text: str) -> str:
    """Slack message text arrives with &, <, > escaped; store what the person typed."""
    return html.unescape(text)


def subject_from_text(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return truncate(first, 150) or "Message from Slack"


def ts_to_datetime(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except ValueError:
        return None


def _retry(exc: SlackTransientError | SlackCallError) -> outbox.RetryLater:
    if isinstance(exc, SlackTransientError):
        return outbox.RetryLater(f"slack: {exc}", exc.retry_after)
    return outbox.RetryLater(f"slack: {exc.code}")


class SlackDeliveries:
    def __init__(
        self,
        database: Database,
        config: AppConfig,
        slack: SlackGateway,
        wake: Callable[[], None] | None = None,
        *,
        search: ProblemSearch | None = None,
        jira_enabled: bool = False,
    ) -> None:
        self.database = database
        self.config = config
        self.slack = slack
        self._wake = wake
        self.search = search
        self.jira_enabled = jira_enabled

    async def card_permalink(self, issue_id: int) -> str | None:
        """The link to an issue's card, asked of Slack once and remembered. None: not posted yet."""

        def load(conn: Connection) -> Any:
            return conn.execute(
                select(
                    slack_messages.c.id,
                    slack_messages.c.channel,
                    slack_messages.c.ts,
                    slack_messages.c.permalink,
                ).where(slack_messages.c.issue_id == issue_id, slack_messages.c.purpose == CARD)
            ).first()

        row = await self.database.transaction(load)
        if row is None:
            return None
        if row.permalink:
            return str(row.permalink)
        try:
            link = await self.slack.permalink(row.channel, row.ts)
        except SlackTransientError as exc:
            raise _retry(exc) from exc
        except SlackCallError as exc:
            log.info("no permalink for a card", extra={"issue_id": issue_id, "error": exc.code})
            return None
        if not link or not link.startswith("https://"):
            return None
        await self.database.transaction(
            lambda conn: conn.execute(
                update(slack_messages).where(slack_messages.c.id == row.id).values(permalink=link)
            )
        )
        return link

    async def _suggest(self, issue_id: int, card: IssueCard) -> bool:
        """Similar open problems for a new report, found once (when its card is first posted) and
        stored, so later renders show the same suggestions with current counts."""
        if self.search is None or card.problem_id is None:
            return False
        matches = await self.search.similar(card.subject, card.body, exclude_problem=card.problem_id)
        found = [{"problem": m.problem_id, "score": round(m.score, 4)} for m in matches]
        await self.database.transaction(
            lambda conn: conn.execute(
                update(issues)
                .where(issues.c.id == issue_id, issues.c.suggestions.is_(None))
                .values(suggestions=found)
            )
        )
        return bool(found)

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(outbox.SYNC_CARD, self.sync_card)
        deliverer.register(outbox.SLACK_MESSAGE_INTAKE, self.log_slack_message)
        deliverer.register(outbox.EPHEMERAL, self.send_ephemeral)
        deliverer.register(outbox.THREAD_NOTE, self.thread_note)
        deliverer.register(outbox.CUSTOMER_LIST, self.customer_list)
        deliverer.register(outbox.RATIONALE_REQUEST, self.rationale_request)

    async def _permalink(self, issue_id: int, origin: tuple[str, str]) -> str | None:
        """An issue logged from a Slack message links back to it; Slack makes the link."""
        try:
            link = await self.slack.permalink(*origin)
        except SlackTransientError as exc:
            raise _retry(exc) from exc
        except SlackCallError as exc:
            log.info("no permalink for the logged message", extra={"issue_id": issue_id, "error": exc.code})
            return None
        return link if link and link.startswith("https://") else None

    async def sync_card(self, payload: dict[str, Any]) -> outbox.Effects | None:
        """Post the issue's card, or re-render the one already posted, from stored state."""
        issue_id = int(payload["issue_id"])
        state = await self.database.transaction(lambda conn: load_card_state(conn, issue_id))
        if state is None:
            log.info("card skipped: issue is gone", extra={"issue_id": issue_id})
            return None
        if state.posted is None and state.needs_suggestions and await self._suggest(issue_id, state.card):
            state = await self.database.transaction(lambda conn: load_card_state(conn, issue_id))
            if state is None:
                return None
        card = replace(
            state.card,
            severity_options=tuple(s.value for s in self.config.severities),
            tag_options=tuple(self.config.tags),
            jira_enabled=self.jira_enabled,
        )
        if state.problem_card is not None:
            link = state.problem_card_permalink or await self.card_permalink(card.merged_into or 0)
            card = replace(card, merged_into_link=link)
        new_permalink = None
        if state.origin is not None and not card.permalink:
            new_permalink = await self._permalink(issue_id, state.origin)
            card = replace(card, permalink=new_permalink)
        blocks, text = render_issue_card(card)
        posted = None
        try:
            if state.posted is not None:
                await self.slack.update_message(state.posted.channel, state.posted.ts, text, blocks)
            else:
                try:
                    posted = await self.slack.post_message(state.channel, text, blocks)
                except SlackCallError as exc:
                    if exc.code != "not_in_channel":
                        raise
                    # A public channel can be joined without an invite (channels:join scope).
                    await self.slack.join_channel(state.channel)
                    posted = await self.slack.post_message(state.channel, text, blocks)
        except (SlackTransientError, SlackCallError) as exc:
            raise _retry(exc) from exc
        if posted is not None:
            log.info("card posted", extra={"issue_id": issue_id, "channel": posted.channel})

        def record(conn: Connection) -> None:
            now = utcnow()
            if new_permalink:
                conn.execute(update(issues).where(issues.c.id == issue_id).values(permalink=new_permalink))
            if posted is not None:
                conn.execute(
                    insert(slack_messages).values(
                        purpose=CARD,
                        issue_id=issue_id,
                        channel=posted.channel,
                        ts=posted.ts,
                        created_at=now,
                        updated_at=now,
                    )
                )

        return record

    async def log_slack_message(self, payload: dict[str, Any]) -> None:
        """A reaction asked to log a message: read it from Slack and take it in like any report."""
        channel, ts, user = str(payload["channel"]), str(payload["ts"]), str(payload["user"])
        try:
            message = await self.slack.fetch_message(channel, ts)
        except SlackTransientError as exc:
            raise _retry(exc) from exc
        except SlackCallError as exc:
            if exc.code in GONE:
                log.info("reacted message cannot be read", extra={"channel": channel, "error": exc.code})
                return
            raise _retry(exc) from exc
        if message is None:
            log.info("reacted message not found", extra={"channel": channel})
            return
        text = slack_text_to_plain(str(message.get("text") or ""))
        author = message.get("user")
        request = IntakeRequest(
            external_id=f"{channel}:{ts}",
            source="slack",
            subject=subject_from_text(text),
            body=text,
            customer=Customer(id=str(author or message.get("bot_id") or "unknown"), slack_user_id=author),
            origin_channel=channel,
            origin_ts=ts,
            created_at=ts_to_datetime(ts),
        )
        await ingest_issue(self.database, self.config, request, reported_by=user, confirm_to=(channel, user))
        if self._wake is not None:
            self._wake()

    async def send_ephemeral(self, payload: dict[str, Any]) -> None:
        card_channel = None
        if payload.get("note") == "intake_confirmation":
            issue_id = int(payload["issue_id"])
            card_channel = await self.database.transaction(
                lambda conn: conn.execute(select(issues.c.channel_id).where(issues.c.id == issue_id)).scalar()
            )
            text = intake_confirmation(int(payload["issue_id"]), bool(payload["created"]), card_channel)
        else:
            text = str(payload.get("text", ""))
        try:
            await self.slack.post_ephemeral(str(payload["channel"]), str(payload["user"]), text)
        except SlackTransientError as exc:
            raise _retry(exc) from exc
        except SlackCallError as exc:
            # A private note to someone no longer in the channel is not worth retrying forever.
            log.info("ephemeral note not delivered", extra={"error": exc.code})

    async def thread_note(self, payload: dict[str, Any]) -> None:
        """Post an issue event (an e-mail reply, a triage action) in the thread of the issue's card."""
        event_id = int(payload["event_id"])

        def load(conn: Connection) -> tuple[Any, Any] | None:
            event = conn.execute(select(issue_events).where(issue_events.c.id == event_id)).first()
            if event is None:
                return None
            card = conn.execute(
                select(slack_messages.c.channel, slack_messages.c.ts).where(
                    slack_messages.c.issue_id == event.issue_id, slack_messages.c.purpose == CARD
                )
            ).first()
            return event, card

        loaded = await self.database.transaction(load)
        if loaded is None:
            log.info("thread note skipped: event is gone", extra={"event_id": event_id})
            return
        event, card = loaded
        if card is None:
            # The reply beat its card to Slack; the card is in the outbox too, so wait for it.
            raise outbox.RetryLater("card not posted yet")
        detail = event.detail
        if event.kind == "email_reply":
            blocks, text = render_email_reply(
                detail.get("from_name"),
                str(detail.get("from_email")),
                str(detail.get("subject", "")),
                str(detail.get("text", "")),
            )
        else:
            blocks, text = render_triage_note(event.kind, event.actor, detail)
        try:
            await self.slack.post_message(card.channel, text, blocks, thread_ts=card.ts)
        except (SlackTransientError, SlackCallError) as exc:
            raise _retry(exc) from exc

    async def customer_list(self, payload: dict[str, Any]) -> outbox.Effects | None:
        """Post (or re-render in place) the customers to tell about a resolved problem, in its thread."""
        problem_id = int(payload["problem_id"])
        loaded = await self.database.transaction(lambda conn: load_customer_list(conn, problem_id))
        if loaded is None:
            log.info("customer list skipped: problem or card is gone", extra={"problem_id": problem_id})
            return None
        problem, card, existing = loaded
        blocks, text = render_customer_list(problem)
        posted = None
        try:
            if existing is not None:
                await self.slack.update_message(existing.channel, existing.ts, text, blocks)
            else:
                posted = await self.slack.post_message(card.channel, text, blocks, thread_ts=card.ts)
        except (SlackTransientError, SlackCallError) as exc:
            raise _retry(exc) from exc
        if posted is None:
            return None

        def record(conn: Connection) -> None:
            now = utcnow()
            conn.execute(
                insert(slack_messages).values(
                    purpose=CUSTOMER_LIST,
                    issue_id=problem.issue_id,
                    channel=posted.channel,
                    ts=posted.ts,
                    thread_ts=card.ts,
                    created_at=now,
                    updated_at=now,
                )
            )

        return record

    async def rationale_request(self, payload: dict[str, Any]) -> None:
        """Ask for a won't-do rationale: in the problem's thread (anyone may answer) and, when we know
        who escalated it or who it was assigned to, in a direct message to them."""
        problem_id = int(payload["problem_id"])
        ask = payload.get("user")

        def load(conn: Connection) -> Any:
            return conn.execute(
                select(
                    problems.c.primary_issue_id,
                    issues.c.subject,
                    slack_messages.c.channel,
                    slack_messages.c.ts,
                )
                .join(issues, issues.c.id == problems.c.primary_issue_id)
                .join(
                    slack_messages,
                    and_(slack_messages.c.issue_id == issues.c.id, slack_messages.c.purpose == CARD),
                )
                .where(problems.c.id == problem_id)
            ).first()

        loaded = await self.database.transaction(
            lambda conn: (load(conn), len(customers_of(conn, problem_id)))
        )
        row, customer_count = loaded
        if row is None:
            return
        blocks, text = render_rationale_request(
            problem_id,
            row.primary_issue_id,
            row.subject,
            str(payload.get("key") or ""),
            payload.get("resolution"),
            customer_count,
            str(ask) if ask else None,
        )
        try:
            if payload.get("to") == "dm" and ask:
                await self.slack.post_message(str(ask), text, blocks)
            else:
                await self.slack.post_message(row.channel, text, blocks, thread_ts=row.ts)
        except SlackTransientError as exc:
            raise _retry(exc) from exc
        except SlackCallError as exc:
            if payload.get("to") == "dm":
                # The thread has the same request with the same button: not worth retrying forever.
                log.info("rationale request not sent as a DM", extra={"error": exc.code})
                return
            raise _retry(exc) from exc
