"""Outbox handlers that talk to Slack: they load stored state, render it with a view, and call Slack
through our gateway. Each is idempotent: it may run again after a crash or a retry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from bot import metrics
from bot.config import AppConfig
from bot.deliveries.policy import (
    card_mark,
    customer_list_mark,
    delivery_mark,
    note_mark,
    outbox_failure,
    post_once,
    slack_outcome,
)
from bot.deliveries.posts import PostDeliveries
from bot.domain.intake import Customer, IntakeRequest, Severity
from bot.domain.outbox import (
    AutoMergeNote,
    CustomerList,
    Ephemeral,
    PostRenderer,
    RationaleRequest,
    SlackMessageIntake,
    SyncCard,
    ThreadNote,
)
from bot.metrics import count_refused, count_taken
from bot.services import escalation, outbox, triage
from bot.services.cards import (
    CARD,
    CUSTOMER_LIST,
    CardState,
    load_card_state,
    load_customer_list,
    with_suggestions,
)
from bot.services.customer_answers import CUSTOMER_ANSWER
from bot.services.intake import ingest_issue
from bot.services.problem_search import Prepared, ProblemSearch, store_vectors
from bot.services.triage import AUTO_MERGED, customers_of
from bot.sla import due_at
from bot.slack_text import slack_text_to_plain, subject_from_text, ts_to_datetime
from bot.views.escalation import (
    render_customer_list,
    render_rationale_request,
    render_rationale_written,
)
from bot.views.issue_card import IssueCard, render_issue_card, source_label
from bot.views.notes import (
    AUTO_MERGE_LINES,
    intake_confirmation,
    render_auto_merge_note,
    render_claim_released,
    render_customer_answer,
    render_email_reply,
    render_severity_pointer,
    render_triage_note,
)
from db.models import customers, issue_events, issues, posted_messages, problems, slack_messages, utcnow
from db.queries import upsert_for
from db.session import Database
from integrations.slack import (
    ChannelGone,
    MessageGone,
    SlackCallError,
    SlackError,
    SlackGateway,
    SlackTransientError,
)

log = logging.getLogger(__name__)

SUGGESTIONS_SHOWN = 3  # "Looks like #N" lines on a new card
AUTO_MERGE_LOOK = 10  # matches looked at for the oldest problem above matching.auto_merge


def slack_connect_customer(message: dict[str, Any], our_team: str | None) -> Customer | None:
    """The customer a Slack message names by its author: only an author from another workspace
    (Slack Connect), never one of our own members (a colleague relaying what a customer said)."""
    author = message.get("user")
    author_team = message.get("user_team") or message.get("team")
    if not isinstance(author, str) or not author or our_team is None or not author_team:
        return None
    if author_team == our_team:
        return None
    return Customer(id=author, slack_user_id=author)


class CardDeliveries:
    """Issue cards and what hangs off them: the card itself, notes in its thread, the customers to tell,
    rationale requests, private confirmations, and messages logged by a reaction."""

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
            raise outbox_failure(exc) from exc
        except SlackCallError as exc:
            # A card without a link still renders: the digest or alert just names it without one.
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

    def _load(self, conn: Connection, issue_id: int) -> _Loaded | None:
        """Everything a card's delivery reads, in one transaction: its state, whether it joined a
        problem at intake, and (a new card not yet looked for similar problems) the candidates."""
        state = load_card_state(conn, issue_id)
        if state is None:
            return None
        if state.posted is None and _merged_at_intake(conn, issue_id):
            return _Loaded(state, merged=True)
        prepared = None
        problem_id = state.card.problem_id
        if state.posted is None and state.needs_suggestions and self.search is not None and problem_id:
            prepared = self.search.gather_stored(conn, issue_id, exclude_problem=problem_id)
        return _Loaded(state, prepared=prepared)

    async def _suggest(self, issue_id: int, state: CardState, prepared: Prepared | None) -> CardState | None:
        """Similar open problems for a new report, found once (when its card is first posted) and
        stored, so later renders show the same suggestions with current counts. Returns the state to
        render (reloaded when suggestions were stored). None: the best match was at
        `matching.auto_merge` or above and the report joined that problem instead (no card), or the
        issue is gone."""
        card, search = state.card, self.search
        if search is None or card.problem_id is None:
            return state
        problem_id = card.problem_id
        if prepared is None:
            # Stored without its embedding (intake leaves it to the card): embedded now, then stored
            # with the candidates' read, in the writer's queue like the card's load (nothing of a
            # card's lookup reads beside the writer: see `sync_card`).
            with metrics.stage("embed"):
                vector = await search.embed_stored(issue_id, card.subject, card.body)
            if vector is not None:
                with metrics.stage("load"):
                    prepared = await self.database.transaction(
                        lambda conn: search.gather_stored(
                            conn, issue_id, exclude_problem=problem_id, vector=vector
                        )
                    )
        # More than the card shows: auto-merge looks for the oldest problem above its threshold.
        with metrics.stage("match"):
            if prepared is not None:
                matches = await search.score_prepared(prepared, AUTO_MERGE_LOOK)
            else:  # no terms stored, or no model: analysed afresh
                matches = await search.similar(
                    card.subject,
                    card.body,
                    exclude_problem=problem_id,
                    issue_id=issue_id,
                    limit=AUTO_MERGE_LOOK,
                )
        computed = prepared.computed if prepared is not None else {}
        # Ranked without a threshold; the card shows only what is likely right (matching.suggest).
        threshold = self.config.matching.suggest
        found = [
            {"problem": m.problem_id, "score": round(m.score, 4)}
            for m in matches[:SUGGESTIONS_SHOWN]
            if m.score >= threshold
        ]
        merge_at = self.config.matching.auto_merge
        # Only into a problem older than the report's own: two reports of one outage whose cards are
        # looked up at the same moment never join each other's (the newer joins the older).
        above = [
            m
            for m in matches
            if merge_at is not None and m.score >= merge_at and m.problem_id < card.problem_id
        ]
        # The oldest problem above the threshold: in a storm, reports join the problem already
        # standing rather than pairing off among themselves.
        best = min(above, key=lambda m: m.problem_id) if above else None
        batch_seconds = self.config.matching.batch_seconds

        def store(conn: Connection) -> CardState | bool | None:
            if computed:  # candidates embedded while scoring: each is paid for once
                store_vectors(conn, computed)
            conn.execute(
                update(issues)
                .where(issues.c.id == issue_id, issues.c.suggestions.is_(None))
                .values(suggestions=found)
            )
            if best is not None and triage.auto_merge(
                conn, issue_id, best.issue_id, best.score, batch_seconds
            ):
                return True
            # The card shows its suggestions with their current counts: read in the same go.
            return with_suggestions(conn, state, found) if found else False

        with metrics.stage("suggest"):
            stored = await self.database.transaction(store)
        if stored is True:
            assert best is not None
            metrics.AUTO_MERGES.inc()
            log.info("report merged at intake", extra={"issue_id": issue_id, "problem_id": best.problem_id})
            return None
        if stored is False:
            return state
        return stored

    def _first_response_due(self, card: IssueCard) -> datetime | None:
        """When the severity's first-response target wants an answer (None without a target)."""
        sla = self.config.sla
        if card.received_at is None or card.severity not in {s.value for s in Severity}:
            return None
        target = sla.target_for(card.severity)
        if target is None:
            return None
        return due_at(card.received_at, target, self.config.zone, sla.business_hours)

    def add_renderers(self, posts: PostDeliveries) -> None:
        posts.add_renderer(PostRenderer.CLAIM_RELEASED, self.claim_released)
        posts.add_renderer(PostRenderer.SEVERITY_POINTER, self.severity_pointer)
        posts.add_renderer(PostRenderer.RATIONALE_WRITTEN, self.rationale_written)

    async def rationale_written(self, args: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | None:
        problem_id = int(args["problem"])
        written = await self.database.transaction(lambda conn: escalation.rationale_written(conn, problem_id))
        return render_rationale_written(written) if written is not None else None

    async def severity_pointer(self, args: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | None:
        issue_id = int(args["issue"])
        row = await self.database.transaction(
            lambda conn: conn.execute(
                select(issues.c.subject, issues.c.channel_id).where(issues.c.id == issue_id)
            ).first()
        )
        if row is None:
            return None
        link = await self.card_permalink(issue_id)
        return render_severity_pointer(
            str(args["actor"]), issue_id, row.subject, str(args["severity"]), link, row.channel_id
        )

    async def claim_released(self, args: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | None:
        issue_id, actor = int(args["issue"]), str(args["actor"])
        subject = await self.database.transaction(
            lambda conn: conn.execute(select(issues.c.subject).where(issues.c.id == issue_id)).scalar()
        )
        if subject is None:
            return None
        return render_claim_released(actor, issue_id, subject, await self.card_permalink(issue_id))

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(SyncCard, self.sync_card)
        deliverer.register(SlackMessageIntake, self.log_slack_message)
        deliverer.register(Ephemeral, self.send_ephemeral)
        deliverer.register(ThreadNote, self.thread_note)
        deliverer.register(CustomerList, self.customer_list)
        deliverer.register(AutoMergeNote, self.auto_merge_note)
        deliverer.register(RationaleRequest, self.rationale_request)

    async def _permalink(self, issue_id: int, origin: tuple[str, str]) -> str | None:
        """An issue logged from a Slack message links back to it; Slack makes the link."""
        try:
            link = await self.slack.permalink(*origin)
        except SlackTransientError as exc:
            raise outbox_failure(exc) from exc
        except SlackCallError as exc:
            log.info("no permalink for the logged message", extra={"issue_id": issue_id, "error": exc.code})
            return None
        return link if link and link.startswith("https://") else None

    async def sync_card(self, payload: SyncCard) -> outbox.Effects | None:
        """Post the issue's card, or re-render the one already posted, from stored state."""
        issue_id = payload.issue_id
        with metrics.stage("load"):
            # In the writer's queue on SQLite, not beside it (`Database.read`): measured, reading
            # beside the writer cost 6 ms more CPU a card and 15 % of the card throughput (a
            # burst's writes and its cards' reads then share the WAL), for no gain in latency there.
            loaded = await self.database.transaction(lambda conn: self._load(conn, issue_id))
        if loaded is None:
            log.info("card skipped: issue is gone", extra={"issue_id": issue_id})
            return None
        if loaded.merged:
            return None  # it joined its problem at intake: that problem's card and thread show it
        state = loaded.state
        if state.posted is None and state.needs_suggestions:
            suggested = await self._suggest(issue_id, state, loaded.prepared)
            if suggested is None:
                return None
            state = suggested
        card = replace(
            state.card,
            severity_options=tuple(s.value for s in self.config.severities),
            tag_options=tuple(self.config.tags),
            jira_enabled=self.jira_enabled,
            wont_do=state.card.jira is not None and self.config.jira.is_wont_do(state.card.jira.resolution),
            first_response_due=self._first_response_due(state.card),
        )
        if state.problem_card is not None:
            link = state.problem_card_permalink or await self.card_permalink(card.merged_into or 0)
            card = replace(card, merged_into_link=link)
        new_permalink = None
        if state.origin is not None and not card.permalink:
            new_permalink = await self._permalink(issue_id, state.origin)
            card = replace(card, permalink=new_permalink)
        with metrics.stage("render"):
            blocks, text = render_issue_card(card, utcnow(), self.config.zone)
        posted = None
        with slack_outcome():
            if state.posted is not None:
                await self.slack.update_message(state.posted.channel, state.posted.ts, text, blocks)
            else:
                sent = await post_once(self.slack, state.channel, text, blocks, mark=card_mark(issue_id))
                posted = sent.message
                if sent.adopted:
                    # Posted by an attempt whose record was lost: bring it up to date instead.
                    await self.slack.update_message(posted.channel, posted.ts, text, blocks)
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

    async def log_slack_message(self, payload: SlackMessageIntake) -> None:
        """A reaction asked to log a message: read it from Slack and take it in like any report."""
        channel, ts, user = payload.channel, payload.ts, payload.user
        try:
            message = await self.slack.fetch_message(channel, ts)
        except (ChannelGone, MessageGone) as exc:
            # Deleted (or its channel archived) before we read it: there is nothing left to log.
            log.info("reacted message cannot be read", extra={"channel": channel, "error": exc.code})
            count_refused("slack", "message_gone")
            return
        except SlackError as exc:
            raise outbox_failure(exc) from exc
        if message is None:
            log.info("reacted message not found", extra={"channel": channel})
            count_refused("slack", "message_gone")
            return
        text = slack_text_to_plain(str(message.get("text") or ""))
        request = IntakeRequest(
            external_id=f"{channel}:{ts}",
            source="slack",
            subject=subject_from_text(text),
            body=text,
            customer=slack_connect_customer(message, payload.team),
            origin_channel=channel,
            origin_ts=ts,
            created_at=ts_to_datetime(ts),
        )
        result = await ingest_issue(
            self.database, self.config, request, reported_by=user, confirm_to=(channel, user)
        )
        count_taken("slack", result.created)
        if self._wake is not None:
            self._wake()

    async def send_ephemeral(self, payload: Ephemeral) -> None:
        card_channel = None
        issue_id = payload.issue_id
        if payload.note == Ephemeral.INTAKE_CONFIRMATION and issue_id is not None:
            card_channel = await self.database.transaction(
                lambda conn: conn.execute(select(issues.c.channel_id).where(issues.c.id == issue_id)).scalar()
            )
            text = intake_confirmation(issue_id, payload.created, card_channel)
        else:
            text = payload.text
        try:
            await self.slack.post_ephemeral(payload.channel, payload.user, text)
        except SlackTransientError as exc:
            raise outbox_failure(exc) from exc
        except SlackCallError as exc:
            # A private note is only worth anything now: someone who left the channel, or a channel
            # gone, is told nothing later.
            log.info("ephemeral note not delivered", extra={"error": exc.code})

    async def thread_note(self, payload: ThreadNote) -> None:
        """Post an issue event (an e-mail reply, a customer's answer, a triage action) in the thread
        of the issue's card."""
        event_id = payload.event_id

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
        elif event.kind == CUSTOMER_ANSWER:
            blocks, text = render_customer_answer(
                source_label(str(detail.get("source", ""))),
                detail.get("company"),
                detail.get("author_name") or detail.get("customer_name"),
                detail.get("author_email"),
                str(detail.get("text", "")),
            )
        else:
            blocks, text = render_triage_note(event.kind, event.actor, detail)
        with slack_outcome():
            await post_once(
                self.slack, card.channel, text, blocks, thread_ts=card.ts, mark=note_mark(event_id)
            )

    async def auto_merge_note(self, payload: AutoMergeNote) -> None:
        """One line per report merged into the problem at intake since the last such note, each with
        its Unmerge button, in the problem card's thread. Batched by the outbox (a storm of reports is a
        note every few seconds), and once: the batch is named by its first event, so a retry after a
        lost answer finds the note it already posted."""
        problem_id = payload.problem_id
        if payload.batch is not None:
            await self._rerender_auto_merge_note(problem_id, payload.batch)
            return

        def load(conn: Connection) -> tuple[Any, list[Any], int, int] | None:
            problem = conn.execute(select(problems).where(problems.c.id == problem_id)).first()
            if problem is None or problem.primary_issue_id is None:
                return None
            card = conn.execute(
                select(slack_messages.c.channel, slack_messages.c.ts).where(
                    slack_messages.c.issue_id == problem.primary_issue_id, slack_messages.c.purpose == CARD
                )
            ).first()
            pending = list(
                conn.execute(
                    select(
                        issue_events.c.id,
                        issue_events.c.issue_id,
                        issues.c.source,
                        func.coalesce(customers.c.company, customers.c.name).label("who"),
                    )
                    .join(issues, issues.c.id == issue_events.c.issue_id)
                    .outerjoin(customers, customers.c.id == issues.c.customer_id)
                    .where(
                        issue_events.c.kind == AUTO_MERGED,
                        issues.c.problem_id == problem_id,
                        issue_events.c.detail["announced"].as_string().is_(None),
                    )
                    .order_by(issue_events.c.id)
                ).all()
            )
            return card, pending, len(customers_of(conn, problem_id)), problem.primary_issue_id

        loaded = await self.database.transaction(load)
        if loaded is None:
            return
        card, pending, customer_count, primary = loaded
        if not pending:
            return  # all unmerged again, or announced by an earlier batch
        if card is None:
            raise outbox.RetryLater("the problem's card is not posted yet")
        shown = pending[:AUTO_MERGE_LINES]
        blocks, text = render_auto_merge_note(
            [(row.issue_id, source_label(row.source), row.who) for row in shown],
            len(pending) - len(shown),
            customer_count,
        )
        with slack_outcome():
            sent = await post_once(
                self.slack, card.channel, text, blocks, thread_ts=card.ts, mark=note_mark(pending[0].id)
            )
        announced = [row.id for row in pending]
        # Where the note is, so an Unmerge later re-renders its line in place (no live dead button).
        place = {"announced": True, "batch": pending[0].id, "note": [sent.message.channel, sent.message.ts]}

        def record(conn: Connection) -> None:
            for event_id in announced:
                detail = conn.execute(
                    select(issue_events.c.detail).where(issue_events.c.id == event_id)
                ).scalar()
                conn.execute(
                    update(issue_events)
                    .where(issue_events.c.id == event_id)
                    .values(detail={**(detail or {}), **place})
                )

        await self.database.transaction(record)
        log.info(
            "auto-merge note posted",
            extra={"problem_id": problem_id, "reports": len(announced), "issue_id": primary},
        )

    async def _rerender_auto_merge_note(self, problem_id: int, batch: int) -> None:
        """The note of one batch as things stand: reports unmerged since are struck through."""

        def load(conn: Connection) -> tuple[list[Any], int]:
            rows = conn.execute(
                select(
                    issue_events.c.issue_id,
                    issue_events.c.detail,
                    issues.c.source,
                    issues.c.problem_id,
                    func.coalesce(customers.c.company, customers.c.name).label("who"),
                )
                .join(issues, issues.c.id == issue_events.c.issue_id)
                .outerjoin(customers, customers.c.id == issues.c.customer_id)
                .where(issue_events.c.kind == AUTO_MERGED, issue_events.c.id >= batch)
                .order_by(issue_events.c.id)
            ).all()
            return [r for r in rows if (r.detail or {}).get("batch") == batch], len(
                customers_of(conn, problem_id)
            )

        rows, customer_count = await self.database.transaction(load)
        place = (rows[0].detail or {}).get("note") if rows else None
        if not place:
            return
        shown = rows[:AUTO_MERGE_LINES]
        blocks, text = render_auto_merge_note(
            [(row.issue_id, source_label(row.source), row.who) for row in shown],
            len(rows) - len(shown),
            customer_count,
            unmerged=frozenset(row.issue_id for row in rows if row.problem_id != problem_id),
        )
        with slack_outcome():
            await self.slack.update_message(str(place[0]), str(place[1]), text, blocks)

    async def customer_list(self, payload: CustomerList) -> outbox.Effects | None:
        """Post (or re-render in place) the customers to tell about a resolved problem, in its thread."""
        problem_id = payload.problem_id
        loaded = await self.database.transaction(lambda conn: load_customer_list(conn, problem_id))
        if loaded is None:
            log.info("customer list skipped: problem or card is gone", extra={"problem_id": problem_id})
            return None
        problem, card, existing = loaded
        if self.config.jira.is_wont_do(problem.resolution):
            rationale = await self.database.transaction(
                lambda conn: conn.execute(
                    select(problems.c.rationale).where(problems.c.id == problem.problem_id)
                ).scalar()
            )
            problem = replace(problem, wont_do=True, rationale=rationale)
        blocks, text = render_customer_list(problem)
        posted = None
        with slack_outcome():
            if existing is not None:
                await self.slack.update_message(existing.channel, existing.ts, text, blocks)
            else:
                mark = customer_list_mark(problem_id)
                sent = await post_once(self.slack, card.channel, text, blocks, thread_ts=card.ts, mark=mark)
                posted = sent.message
                if sent.adopted:
                    await self.slack.update_message(posted.channel, posted.ts, text, blocks)
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

    async def rationale_request(self, payload: RationaleRequest) -> outbox.Effects | None:
        """Ask for a won't-do rationale: in the problem's thread (anyone may answer) and, when we know
        who escalated it or who it was assigned to, in a direct message to them."""
        problem_id = payload.problem_id
        ask = payload.user

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
            return None
        blocks, text = render_rationale_request(
            problem_id,
            row.primary_issue_id,
            row.subject,
            payload.key or "",
            payload.resolution,
            customer_count,
            ask,
        )
        mark = delivery_mark("supportbridge_rationale_request")
        try:
            if payload.to == "dm" and ask:
                sent = await post_once(self.slack, ask, text, blocks, mark=mark)
            else:
                sent = await post_once(self.slack, row.channel, text, blocks, thread_ts=row.ts, mark=mark)
        except SlackTransientError as exc:
            raise outbox_failure(exc) from exc
        except SlackCallError as exc:
            if payload.to == "dm":
                # The thread has the same request with the same button: not worth retrying forever.
                log.info("rationale request not sent as a DM", extra={"error": exc.code})
                return None
            raise outbox_failure(exc) from exc
        message = sent.message
        # Remembered, so that the request loses its button once the rationale is written (and one
        # written meanwhile is shown at once).
        key = f"{escalation.rationale_request_prefix(problem_id)}{payload.to}:{message.ts}"

        def record(conn: Connection) -> None:
            conn.execute(
                upsert_for(conn, posted_messages)
                .values(key=key[:128], channel=message.channel, ts=message.ts, created_at=utcnow())
                .on_conflict_do_nothing()
            )
            if escalation.rationale_written(conn, problem_id) is not None:
                escalation.refresh_rationale_requests(conn, problem_id)

        return record


@dataclass(frozen=True)
class _Loaded:
    state: CardState
    merged: bool = False  # joined another problem at intake: no card of its own
    prepared: Prepared | None = None  # a new card's candidates for suggestions, read with its state


def _merged_at_intake(conn: Connection, issue_id: int) -> bool:
    """Whether the report joined another problem at intake and is still part of it."""
    row = conn.execute(
        select(problems.c.primary_issue_id)
        .join(issues, issues.c.problem_id == problems.c.id)
        .where(issues.c.id == issue_id)
    ).first()
    if row is None or row.primary_issue_id == issue_id:
        return False
    return (
        conn.execute(
            select(issue_events.c.id).where(
                issue_events.c.issue_id == issue_id, issue_events.c.kind == AUTO_MERGED
            )
        ).first()
        is not None
    )
