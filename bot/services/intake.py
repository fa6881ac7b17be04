"""Intake: one customer report, from any channel, stored once with its pending card.

The issue, its problem, its customer, the delivery id it came with and the outbox entry that will post
its card are committed in one transaction before anyone is told "accepted". Duplicates — the same
`source` + `external_id`, or the same delivery id — resolve to the first issue, even when both arrive at
the same moment: the database's unique constraints decide, and the loser retries and finds the winner.
The delivery id is claimed with `db.queries.deliveries.claim_delivery`, except on PostgreSQL's
single-statement path (`intake_postgres`), which claims it inside its CTE.

This is the hot path of every intake channel, so it speaks SQLAlchemy Core on the tables with
statements built once (cached compiled SQL), in nine round trips (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.config import AppConfig
from bot.domain.intake import IntakeRequest
from bot.domain.outbox import Ephemeral, SlackMessageIntake, SyncCard
from bot.services import outbox
from bot.services.embedding import Vector
from bot.services.intake_postgres import ingest_statement
from bot.services.problem_search import analyse_report, analyzer_for, report_params, store_terms
from bot.services.routing import RouteFacts, route_issue
from db.models import customers, inbound_deliveries, issue_events, issue_tags, issues, problems, utcnow
from db.queries.deliveries import DeliveryTaken, claim_delivery
from db.session import Database

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 5

deliveries = inbound_deliveries

# Both duplicate checks in one round trip.
FIND_EXISTING = select(
    select(deliveries.c.issue_id).where(deliveries.c.key == bindparam("delivery_key")).scalar_subquery(),
    select(issues.c.id)
    .where(issues.c.source == bindparam("source"), issues.c.external_id == bindparam("external_id"))
    .scalar_subquery(),
)
INSERT_PROBLEM = insert(problems).returning(problems.c.id)
INSERT_ISSUE = insert(issues).returning(issues.c.id)
SET_PRIMARY = (
    update(problems).where(problems.c.id == bindparam("problem")).values(primary_issue_id=bindparam("issue"))
)
INSERT_TAG = insert(issue_tags)
INSERT_EVENT = insert(issue_events)
FILLED_IN = ("name", "company", "plan", "slack_user_id")
ISSUE_COLUMNS = (
    "source",
    "external_id",
    "subject",
    "body",
    "product_area",
    "severity",
    "url",
    "permalink",
    "origin_channel",
    "origin_ts",
    "channel_id",
    "reported_by",
)


def _customer_upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (identity_key) DO UPDATE: newer reports fill in what we did not know
    (name, company, plan) and never erase it. One statement, safe under concurrent intake."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(customers)
    fill_in: dict[str, Any] = {
        column: func.coalesce(statement.excluded[column], customers.c[column]) for column in FILLED_IN
    }
    fill_in["updated_at"] = statement.excluded.updated_at
    return statement.on_conflict_do_update(index_elements=[customers.c.identity_key], set_=fill_in).returning(
        customers.c.id
    )


UPSERT_CUSTOMER = {name: _customer_upsert(name) for name in ("postgresql", "sqlite")}


@dataclass(frozen=True)
class IntakeResult:
    issue_id: int
    created: bool


def _intake_params(
    config: AppConfig,
    request: IntakeRequest,
    delivery_key: str | None,
    reported_by: str | None,
    vector: Vector | None = None,
) -> dict[str, Any]:
    """Everything an intake writes, as statement parameters (shared by both storage paths)."""
    incoming = request.customer
    counts = incoming is not None and not config.internal.is_internal_email(incoming.email)
    decision = route_issue(
        config,
        RouteFacts(
            source=request.source,
            product_area=request.product_area,
            severity=request.severity.value,
            tags=tuple(request.tags),
        ),
    )
    analyzer = analyzer_for(config.matching.synonyms, config.matching.language)
    return {
        **report_params(analyse_report(analyzer, request.subject, request.body), vector),
        "delivery_key": delivery_key or "",
        "source": request.source,
        "external_id": request.external_id,
        "has_customer": incoming is not None,
        "counts_as_customer": counts,
        "identity_key": incoming.key_within(request.source) if incoming else None,
        "customer_external_id": incoming.id if incoming else None,
        "name": incoming.name if incoming else None,
        "email": incoming.email if incoming else None,
        "company": incoming.company if incoming else None,
        "plan": incoming.plan if incoming else None,
        "slack_user_id": incoming.slack_user_id if incoming else None,
        "subject": request.subject,
        "body": request.body,
        "product_area": request.product_area,
        "severity": request.severity.value,
        "url": request.url,
        "permalink": request.permalink,
        "origin_channel": request.origin_channel,
        "origin_ts": request.origin_ts,
        "channel_id": decision.channel,
        "reported_by": reported_by,
        "reported_at": request.created_at,
        "tags": list(request.tags),
        "detail": {"source": request.source, "channel": decision.channel, "route": decision.route_index},
    }


def upsert_customer(conn: Connection, p: dict[str, Any], now: datetime) -> int:
    """The customer's row (found by identity, filled in, or new)."""
    return int(
        conn.execute(
            UPSERT_CUSTOMER[conn.dialect.name],
            {
                "identity_key": p["identity_key"],
                "source": p["source"],
                "external_id": p["customer_external_id"],
                "name": p["name"],
                "email": p["email"],
                "company": p["company"],
                "plan": p["plan"],
                "slack_user_id": p["slack_user_id"],
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
    )


def _create(conn: Connection, p: dict[str, Any], now: datetime) -> int:
    customer_id = upsert_customer(conn, p, now) if p["has_customer"] else None
    problem_id = conn.execute(
        INSERT_PROBLEM, {"title": p["subject"], "status": "open", "created_at": now, "updated_at": now}
    ).scalar_one()
    issue_id = conn.execute(
        INSERT_ISSUE,
        {
            **{key: p[key] for key in ISSUE_COLUMNS},
            "problem_id": problem_id,
            "customer_id": customer_id,
            "counts_as_customer": p["counts_as_customer"],
            "status": "open",
            "reported_at": p["reported_at"] or now,
            "received_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    conn.execute(SET_PRIMARY, {"problem": problem_id, "issue": issue_id})
    store_terms(conn, issue_id, p)
    if p["tags"]:
        conn.execute(INSERT_TAG, [{"issue_id": issue_id, "tag": tag} for tag in p["tags"]])
    conn.execute(
        INSERT_EVENT,
        {
            "issue_id": issue_id,
            "kind": "reported",
            "actor": p["reported_by"],
            "detail": p["detail"],
            "created_at": now,
        },
    )
    if p["delivery_key"] and not claim_delivery(conn, p["delivery_key"], issue_id=issue_id, now=now):
        raise DeliveryTaken(p["delivery_key"])  # rolls the new issue back; the retry finds the winner's
    outbox.enqueue_in(conn, SyncCard(issue_id), dedupe_key=f"card:{issue_id}", new=True)
    return int(issue_id)


def point_key(conn: Connection, key: str, issue_id: int, now: datetime) -> None:
    """Make `key` lead to `issue_id`, replacing whatever it led to before."""
    statement = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(deliveries)
    conn.execute(
        statement.values(key=key, issue_id=issue_id, received_at=now).on_conflict_do_update(
            index_elements=[deliveries.c.key],
            set_={"issue_id": statement.excluded.issue_id, "received_at": statement.excluded.received_at},
        )
    )


def _confirm(conn: Connection, confirm_to: tuple[str, str] | None, issue_id: int, created: bool) -> None:
    """Queue the private "logged as #N" note for the Slack user who logged it, in the same transaction."""
    if confirm_to is None:
        return
    channel, user = confirm_to
    outbox.enqueue_in(
        conn,
        Ephemeral(
            channel=channel,
            user=user,
            note=Ephemeral.INTAKE_CONFIRMATION,
            issue_id=issue_id,
            created=created,
        ),
    )


async def ingest_issue(
    database: Database,
    config: AppConfig,
    request: IntakeRequest,
    *,
    delivery_key: str | None = None,
    reported_by: str | None = None,
    confirm_to: tuple[str, str] | None = None,
    thread_keys: tuple[str, ...] = (),
) -> IntakeResult:
    """Store a report (or find the one it repeats). Raises `DatabaseUnavailable` when the database
    cannot be reached: the caller must then not claim success. `thread_keys` are further keys that
    lead to a new issue from now on (an e-mail conversation's subject), pointed at it even if an
    older issue had them."""

    # The report's terms are stored here, so any process finds it by its words once this commits. Its
    # embedding (tens of milliseconds of one core) is not: the card's delivery computes and stores it
    # when it looks for similar problems, a moment later, so a burst of intakes is not held to the
    # pace of the model (measured: 24 accepted/s on two cores with it here, hundreds without).
    params = _intake_params(config, request, delivery_key, reported_by, None)

    def single_statement(dialect: str) -> bool:
        # The one-statement path always stores a customer; a customer-less report takes the other.
        return dialect == "postgresql" and confirm_to is None and not thread_keys and params["has_customer"]

    def work(conn: Connection) -> IntakeResult:
        now = utcnow()
        if single_statement(conn.dialect.name):
            created, seen, existing = ingest_statement(conn, params, now)
            if created is not None:
                return IntakeResult(created, created=True)
            return IntakeResult(int(seen or existing or 0), created=False)
        seen, existing = conn.execute(FIND_EXISTING, params).one()
        if seen is not None:
            _confirm(conn, confirm_to, seen, created=False)
            return IntakeResult(seen, created=False)
        if existing is not None:
            if delivery_key:
                claim_delivery(conn, delivery_key, issue_id=existing, now=now)
            _confirm(conn, confirm_to, existing, created=False)
            return IntakeResult(existing, created=False)
        issue_id = _create(conn, params, now)
        for key in thread_keys:
            point_key(conn, key, issue_id, now)
        _confirm(conn, confirm_to, issue_id, created=True)
        return IntakeResult(issue_id, created=True)

    for attempt in range(CONFLICT_RETRIES):
        last_attempt = attempt == CONFLICT_RETRIES - 1
        try:
            # One statement on PostgreSQL commits by itself; anything else is a transaction.
            single = single_statement(database.dialect)
            result = await (database.autocommit(work) if single else database.transaction(work))
        except (IntegrityError, DeliveryTaken):
            if last_attempt:
                raise  # not a race that a second look resolves: a bug worth its traceback
            # Another request stored the same issue, delivery or customer first: look again.
            log.debug("intake conflict, retrying", extra={"attempt": attempt + 1})
            continue
        if result.created:
            log.info(
                "issue received",
                extra={
                    "issue_id": result.issue_id,
                    "source": request.source,
                    "severity": request.severity.value,
                },
            )
        return result
    raise AssertionError("unreachable: the last attempt returns or raises")


async def take_slack_message(database: Database, event_key: str, message: SlackMessageIntake) -> bool:
    """Take a Slack event asking for `message` to be logged (the intake reaction) and queue the work
    that reads and stores it, in one transaction; False for an event already taken (Slack's retry).
    Raises `DatabaseUnavailable`: the caller then answers so that Slack retries."""

    def take(conn: Connection) -> bool:
        if not claim_delivery(conn, event_key):
            return False
        outbox.enqueue_in(conn, message, dedupe_key=f"slack_msg:{message.channel}:{message.ts}")
        return True

    try:
        return await database.transaction(take)
    except IntegrityError:
        return False  # the same event, taken by a concurrent retry
