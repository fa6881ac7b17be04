"""Outbox handlers that talk to Jira: create (or find) a problem's issue, link it back to Slack, and
comment when customers join. Each is idempotent and safe to run again after a crash or a retry.

Jira slow, down or rate limited: the handler counts the attempt on the escalation (the card shows
"escalating…, retry n") and asks the outbox to try later, honouring Retry-After; after
`jira.max_attempts`, or at once when Jira refuses the request as invalid, the escalation is marked
failed and the card offers Retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.escalation import EscalationState
from bot.domain.outbox import JiraEscalate, JiraLink, JiraNewCustomers, JiraRationale
from bot.services import outbox
from bot.services.escalation import customers_of, jira_label
from bot.services.home import refresh_home
from bot.services.outbox import earlier_attempt_may_have_succeeded
from bot.services.routing import RouteFacts, route_issue
from bot.services.triage import note, sync_problem_cards
from bot.views.issue_card import source_label
from bot.views.jira_text import (
    render_escalation_description,
    render_new_customers_comment,
    render_rationale_comment,
)
from db.models import customers, escalations, issue_tags, issues, problems, utcnow
from db.session import Database
from integrations.jira_client import JiraGateway, JiraIssue, JiraRejected, JiraUnavailable, bounded_comment

log = logging.getLogger(__name__)

QUOTED_REPORTS = 5
SUMMARY_MAX = 255


@dataclass(frozen=True)
class EscalationFacts:
    escalation_id: int
    problem_id: int
    primary_issue_id: int
    state: str
    attempts: int
    jira_key: str | None
    project: str | None
    issue_type: str
    priority: str | None
    summary: str
    labels: list[str]
    severity: str
    customer_count: int
    report_count: int
    quotes: list[tuple[str, str, str]]
    sources: list[str]
    tags: list[str]


def _customer_display(row: Any) -> str:
    name = row.name or row.email or row.external_id or "unknown customer"
    return f"{name} ({row.company})" if row.company else str(name)


def _jira_label_text(tag: str) -> str:
    # Jira labels cannot contain spaces.
    return "-".join(tag.split())[:255]


class JiraDeliveries:
    def __init__(
        self,
        database: Database,
        config: AppConfig,
        jira: JiraGateway | None,
        card_permalink: Callable[[int], Awaitable[str | None]],
    ) -> None:
        self.database = database
        self.config = config
        self.jira = jira
        self.card_permalink = card_permalink

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(JiraEscalate, self.escalate)
        deliverer.register(JiraLink, self.link)
        deliverer.register(JiraNewCustomers, self.new_customers)
        deliverer.register(JiraRationale, self.rationale)

    # -- loading

    def _facts(self, conn: Connection, escalation_id: int) -> EscalationFacts | None:
        row = conn.execute(
            select(escalations, problems.c.primary_issue_id)
            .join(problems, problems.c.id == escalations.c.problem_id)
            .where(escalations.c.id == escalation_id)
        ).first()
        if row is None or row.primary_issue_id is None:
            return None
        primary = conn.execute(select(issues).where(issues.c.id == row.primary_issue_id)).one()
        tags = sorted(
            set(
                conn.execute(
                    select(issue_tags.c.tag)
                    .join(issues, issues.c.id == issue_tags.c.issue_id)
                    .where(issues.c.problem_id == row.problem_id)
                ).scalars()
            )
        )
        reports = conn.execute(
            select(
                issues.c.source,
                issues.c.subject,
                issues.c.body,
                customers.c.name,
                customers.c.email,
                customers.c.external_id,
                customers.c.company,
            )
            .join(customers, customers.c.id == issues.c.customer_id)
            .where(issues.c.problem_id == row.problem_id)
            .order_by(issues.c.id)
        ).all()
        quotes = [
            (source_label(r.source), _customer_display(r), (r.body or r.subject or "").strip())
            for r in reports[:QUOTED_REPORTS]
        ]
        sources = list(dict.fromkeys(source_label(r.source) for r in reports))
        customer_count = len(customers_of(conn, row.problem_id))
        route = route_issue(
            self.config,
            RouteFacts(primary.source, primary.product_area, primary.severity, tuple(tags)),
        )
        severity = primary.severity
        priority = row.priority or self.config.jira.priority_map.get(severity)
        summary = (
            " ".join((row.summary or primary.subject).split())[:SUMMARY_MAX]
            or f"Customer issue #{primary.id}"
        )
        return EscalationFacts(
            escalation_id=row.id,
            problem_id=row.problem_id,
            primary_issue_id=row.primary_issue_id,
            state=row.state,
            attempts=row.attempts,
            jira_key=row.jira_key,
            project=row.project or route.jira_project or self.config.jira.project,
            issue_type=row.issue_type or self.config.jira.issue_type,
            priority=priority,
            summary=summary,
            labels=[jira_label(row.id), *(_jira_label_text(t) for t in tags)],
            severity=severity,
            customer_count=int(customer_count),
            report_count=len(reports),
            quotes=quotes,
            sources=sources,
            tags=tags,
        )

    # -- outcomes

    async def _attempt_failed(
        self, facts: EscalationFacts, reason: str, *, final: bool, retry_after: float | None
    ) -> None:
        """Count a failed attempt; the last one (or a refusal) marks the escalation failed, with Retry."""
        attempts = facts.attempts + 1
        final = final or attempts >= self.config.jira.max_attempts

        def record(conn: Connection) -> None:
            now = utcnow()
            conn.execute(
                update(escalations)
                .where(
                    escalations.c.id == facts.escalation_id, escalations.c.state == EscalationState.PENDING
                )
                .values(
                    attempts=attempts,
                    last_error=reason[:1000],
                    state=EscalationState.FAILED if final else EscalationState.PENDING,
                    updated_at=now,
                )
            )
            if final:
                note(
                    conn,
                    facts.primary_issue_id,
                    "escalation_failed",
                    None,
                    {"error": reason[:300]},
                    sync=False,
                )
            sync_problem_cards(conn, facts.problem_id)

        await self.database.transaction(record)
        log.warning(
            "jira escalation attempt failed",
            extra={
                "problem_id": facts.problem_id,
                "attempts": attempts,
                "final": final,
                "error": reason[:200],
            },
        )
        if not final:
            raise outbox.RetryLater(f"jira: {reason}", retry_after)

    def _recorded(self, facts: EscalationFacts, issue: JiraIssue, state: str) -> outbox.Effects:
        def record(conn: Connection) -> None:
            now = utcnow()
            done = conn.execute(
                update(escalations)
                .where(
                    escalations.c.id == facts.escalation_id, escalations.c.state == EscalationState.PENDING
                )
                .values(
                    state=state,
                    jira_key=issue.key,
                    jira_url=issue.url,
                    **issue.snapshot.columns(),
                    last_error=None,
                    announced_customers=customers_of(conn, facts.problem_id),
                    updated_at=now,
                )
            ).rowcount
            if done:
                row = conn.execute(
                    select(escalations.c.requested_by).where(escalations.c.id == facts.escalation_id)
                ).one()
                note(
                    conn,
                    facts.primary_issue_id,
                    "escalated",
                    row.requested_by,
                    {"key": issue.key},
                    sync=False,
                )
                sync_problem_cards(conn, facts.problem_id)
                refresh_home(conn, row.requested_by)

        return record

    # -- handlers

    async def escalate(self, payload: JiraEscalate) -> outbox.Effects | None:
        escalation_id = payload.escalation_id
        facts = await self.database.transaction(lambda conn: self._facts(conn, escalation_id))
        if facts is None or facts.state != EscalationState.PENDING:
            return None  # gone, or already done by an earlier run
        if self.jira is None:
            await self._attempt_failed(
                facts,
                "Jira is not configured (JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN)",
                final=True,
                retry_after=None,
            )
            return None
        if not facts.project:
            await self._attempt_failed(
                facts,
                "no Jira project: set jira.project or the route's jira_project",
                final=True,
                retry_after=None,
            )
            return None
        permalink = await self.card_permalink(facts.primary_issue_id)
        label = jira_label(facts.escalation_id)
        try:
            # A creation whose answer was lost carries the label: find it before creating again.
            issue = await self.jira.find_by_label(label)
            if issue is None:
                description = render_escalation_description(
                    problem_id=facts.primary_issue_id,
                    customer_count=facts.customer_count,
                    report_count=facts.report_count,
                    quotes=facts.quotes,
                    sources=facts.sources,
                    slack_permalink=permalink,
                    tags=facts.tags,
                    severity=facts.severity,
                )
                issue = await self.jira.create_issue(
                    project=facts.project,
                    issue_type=facts.issue_type,
                    summary=facts.summary,
                    description=description,
                    priority=facts.priority,
                    labels=facts.labels,
                )
                log.info("jira issue created", extra={"problem_id": facts.problem_id, "key": issue.key})
            if permalink:
                await self.jira.add_remote_link(
                    issue.key,
                    url=permalink,
                    title=f"Slack: customer issue #{facts.primary_issue_id}",
                    global_id=label,
                )
        except JiraUnavailable as exc:
            retry_after = exc.retry_after
            if exc.outcome_unknown:
                # The issue may exist; give Jira's search time to see it before looking again.
                retry_after = max(retry_after or 0.0, self.config.jira.search_lag_seconds)
            await self._attempt_failed(facts, str(exc), final=False, retry_after=retry_after)
            return None
        except JiraRejected as exc:
            await self._attempt_failed(facts, str(exc), final=True, retry_after=None)
            return None
        return self._recorded(facts, issue, EscalationState.CREATED)

    async def link(self, payload: JiraLink) -> None:
        """A linked existing issue gets the Slack thread as a remote link."""
        escalation_id = payload.escalation_id
        facts = await self.database.transaction(lambda conn: self._facts(conn, escalation_id))
        if facts is None or facts.state != EscalationState.LINKED or not facts.jira_key or self.jira is None:
            return
        permalink = await self.card_permalink(facts.primary_issue_id)
        if not permalink:
            return
        try:
            await self.jira.add_remote_link(
                facts.jira_key,
                url=permalink,
                title=f"Slack: customer issue #{facts.primary_issue_id}",
                global_id=jira_label(facts.escalation_id),
            )
        except JiraUnavailable as exc:
            raise outbox.RetryLater(f"jira: {exc}", exc.retry_after) from exc
        except JiraRejected as exc:
            log.warning(
                "jira refused the remote link", extra={"key": facts.jira_key, "error": str(exc)[:200]}
            )

    async def rationale(self, payload: JiraRationale) -> None:
        """The won't-do rationale as a comment on the problem's Jira issue, once."""
        problem_id = payload.problem_id

        def load(conn: Connection) -> tuple[str, str] | None:
            row = conn.execute(
                select(escalations.c.jira_key, problems.c.rationale)
                .join(problems, problems.c.id == escalations.c.problem_id)
                .where(
                    escalations.c.problem_id == problem_id,
                    escalations.c.state.in_((EscalationState.CREATED, EscalationState.LINKED)),
                )
            ).first()
            if row is None or not row.jira_key or not row.rationale:
                return None
            return str(row.jira_key), str(row.rationale)

        loaded = await self.database.transaction(load)
        if loaded is None or self.jira is None:
            return
        key, text = loaded
        body = render_rationale_comment(text)
        try:
            sent = bounded_comment(body).strip()
            if earlier_attempt_may_have_succeeded() and sent in {
                t.strip() for t in await self.jira.comment_bodies(key)
            }:
                log.info("jira comment already there; not posting it again", extra={"key": key})
                return
            await self.jira.add_comment(key, body)
        except JiraUnavailable as exc:
            raise outbox.RetryLater(
                f"jira: {exc}", exc.retry_after, outcome_unknown=exc.outcome_unknown
            ) from exc
        except JiraRejected as exc:
            log.warning("jira refused the rationale comment", extra={"key": key, "error": str(exc)[:200]})

    async def new_customers(self, payload: JiraNewCustomers) -> outbox.Effects | None:
        """One comment on the Jira issue naming the customers merged in since it was last told."""
        problem_id = payload.problem_id

        def load(conn: Connection) -> tuple[Any, list[tuple[int, str, str]], int] | None:
            row = conn.execute(
                select(escalations).where(
                    escalations.c.problem_id == problem_id,
                    escalations.c.state.in_((EscalationState.CREATED, EscalationState.LINKED)),
                )
            ).first()
            if row is None or not row.jira_key:
                return None
            known = set(row.announced_customers or [])
            current = customers_of(conn, problem_id)
            fresh = [c for c in current if c not in known]
            if not fresh:
                return row, [], len(current)
            people = conn.execute(
                select(customers, func.min(issues.c.source).label("via"))
                .join(issues, issues.c.customer_id == customers.c.id)
                .where(customers.c.id.in_(fresh), issues.c.problem_id == problem_id)
                .group_by(customers.c.id)
            ).all()
            return row, [(p.id, _customer_display(p), source_label(p.via)) for p in people], len(current)

        loaded = await self.database.transaction(load)
        if loaded is None:
            return None
        row, fresh, total = loaded
        if not fresh:
            return None
        if self.jira is None:
            return None
        body = render_new_customers_comment([(name, via) for _, name, via in fresh], total)
        try:
            # Jira has no dedupe key for comments: after an attempt whose answer was lost, the same
            # comment (the same customers, so the same text) already there is taken as posted.
            sent = bounded_comment(body).strip()
            posted = earlier_attempt_may_have_succeeded() and sent in {
                text.strip() for text in await self.jira.comment_bodies(row.jira_key)
            }
            if posted:
                log.info("jira comment already there; not posting it again", extra={"key": row.jira_key})
            else:
                await self.jira.add_comment(row.jira_key, body)
        except JiraUnavailable as exc:
            raise outbox.RetryLater(
                f"jira: {exc}", exc.retry_after, outcome_unknown=exc.outcome_unknown
            ) from exc
        except JiraRejected as exc:
            log.warning("jira refused the comment", extra={"key": row.jira_key, "error": str(exc)[:200]})
            return None
        announced = [c for c, _, _ in fresh]

        def record(conn: Connection) -> None:
            current = conn.execute(
                select(escalations.c.announced_customers).where(escalations.c.id == row.id)
            ).scalar_one()
            merged = list(dict.fromkeys([*(current or []), *announced]))
            conn.execute(
                update(escalations).where(escalations.c.id == row.id).values(announced_customers=merged)
            )

        return record
