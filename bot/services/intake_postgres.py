"""Intake on PostgreSQL in one statement.

On PostgreSQL every statement is a network round trip and a parse-bind-execute on the server, and the
generic intake takes nine of them plus BEGIN and COMMIT. Data-modifying CTEs do the same work —
duplicate checks, customer upsert, problem, issue, tags, history, delivery id, pending card — in one
statement that commits on its own. The result is the same rows as `intake._create`; the suite runs
every intake test on PostgreSQL through this path, and on SQLite through the generic one.

Two reports racing with the same source and external id: both pass the duplicate check, one insert
wins, the other fails on the unique constraint and is retried by the caller, which then finds the
winner. The problem row points at its issue through an id drawn from the issues' sequence first;
the foreign key is checked at the end of the statement, when both rows exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, LargeBinary, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from bot.domain.outbox import PAYLOAD_VERSION
from db.models import UTCDateTime

INGEST = text(
    """
WITH known AS (
    SELECT (SELECT issue_id FROM inbound_deliveries WHERE key = :delivery_key) AS by_delivery,
           (SELECT id FROM issues WHERE source = :source AND external_id = :external_id) AS by_source
),
fresh AS (
    SELECT nextval(pg_get_serial_sequence('issues', 'id')) AS id
    FROM known WHERE by_delivery IS NULL AND by_source IS NULL
),
customer AS (
    INSERT INTO customers (identity_key, source, external_id, name, email, company, plan,
                           slack_user_id, created_at, updated_at)
    SELECT :identity_key, :source, :customer_external_id, :name, :email, :company, :plan,
           :slack_user_id, :now, :now
    FROM fresh
    ON CONFLICT (identity_key) DO UPDATE SET
        name = coalesce(excluded.name, customers.name),
        company = coalesce(excluded.company, customers.company),
        plan = coalesce(excluded.plan, customers.plan),
        slack_user_id = coalesce(excluded.slack_user_id, customers.slack_user_id),
        updated_at = excluded.updated_at
    RETURNING id
),
problem AS (
    INSERT INTO problems (title, status, primary_issue_id, created_at, updated_at)
    SELECT :subject, 'open', fresh.id, :now, :now FROM fresh
    RETURNING id
),
issue AS (
    INSERT INTO issues (id, source, external_id, problem_id, customer_id, counts_as_customer, subject,
                        body, product_area, severity, status, url, permalink, origin_channel, origin_ts,
                        channel_id, reported_by, reported_at, received_at, updated_at)
    SELECT fresh.id, :source, :external_id, problem.id, customer.id, :counts_as_customer, :subject,
           :body, :product_area, :severity, 'open', :url, :permalink, :origin_channel, :origin_ts,
           :channel_id, :reported_by, coalesce(:reported_at, :now), :now, :now
    FROM fresh, problem, customer
    RETURNING id
),
tags AS (
    INSERT INTO issue_tags (issue_id, tag) SELECT issue.id, tag FROM issue, unnest(:tags) AS tag
),
history AS (
    INSERT INTO issue_events (issue_id, kind, actor, detail, created_at)
    SELECT issue.id, 'reported', :reported_by, :detail, :now FROM issue
),
delivery AS (
    INSERT INTO inbound_deliveries (key, issue_id, received_at)
    SELECT :delivery_key, coalesce((SELECT id FROM issue), known.by_source), :now
    FROM known WHERE :delivery_key <> '' AND known.by_delivery IS NULL
),
search AS (
    INSERT INTO report_terms (issue_id, language, terms, length, vector)
    SELECT issue.id, :search_language, :search_terms, :search_length, :search_vector FROM issue
),
term_counts AS (
    INSERT INTO search_terms (term, reports)
    SELECT term, 1 FROM issue, unnest(CAST(:search_distinct AS varchar[])) WITH ORDINALITY AS t(term, n)
    ORDER BY n
    ON CONFLICT (term) DO UPDATE SET reports = search_terms.reports + 1
),
card AS (
    INSERT INTO outbox (kind, dedupe_key, payload, status, attempts, revision, next_attempt_at,
                        created_at, updated_at)
    SELECT 'sync_card', 'card:' || issue.id,
           json_build_object('v', CAST(:payload_version AS integer), 'issue_id', issue.id),
           'pending', 0, 0, :now, :now, :now
    FROM issue
)
SELECT (SELECT id FROM issue) AS created, known.by_delivery, known.by_source FROM known
"""
).bindparams(
    bindparam("now", type_=UTCDateTime()),
    bindparam("reported_at", type_=UTCDateTime()),
    bindparam("tags", type_=ARRAY(String)),
    bindparam("search_distinct", type_=ARRAY(String)),
    bindparam("search_vector", type_=LargeBinary()),
    bindparam("detail", type_=JSON()),
)


def ingest_statement(
    conn: Connection, params: dict[str, Any], now: datetime
) -> tuple[int | None, int | None, int | None]:
    """(created issue id, id found by delivery id, id found by source + external id)."""
    row = conn.execute(INGEST, {**params, "now": now, "payload_version": PAYLOAD_VERSION}).one()
    return row.created, row.by_delivery, row.by_source
