"""Every Prometheus series Supportbridge exports, in one place (`GET /metrics`, prefix `supportbridge_`).

Each process has its own registry (`REGISTRY`) and serves it itself: `serve` at `/metrics` on its HTTP
port, `worker` on `METRICS_PORT` (`serve_worker_metrics`). Prometheus scrapes every process and sums;
there is no multiprocess mode (no shared directory to clean up, and no gauges that cannot be summed).

Labels take values from fixed sets only: request kinds and outcomes, intake sources named by the route
or the path (`email`, `slack`; never the sender's free-text `source`), refusal reasons named by status
(or by our kinds of skipped e-mail), outbox kinds (our enum), Slack method names (our code's), job names
(our code's), error class names. No customer text, id or secret ever becomes a label value.

Some gauges are computed when scraped (`refresh_state`): outbox depth and age by kind, dead letters,
open problems by severity, unclaimed issues past their SLA, the database pool. They are one bounded
query each, cached `STATE_TTL_SECONDS`, so a scrape is cheap and a storm of scrapes is one query.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from sqlalchemy import event

from db.session import is_unavailable_error

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
PREFIX = "supportbridge"
STATE_TTL_SECONDS = 5.0
STATE_ROW_LIMIT = 5000  # unclaimed issues examined for the SLA gauge at most

# Slack's 3 s: buckets dense below it so a p99 near 3 s is visible.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
CALL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BUSINESS_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)

REQUEST_KINDS = ("event", "action", "command", "view", "intake", "jira_webhook", "slack")
INTAKE_SOURCES = ("webhook", "zendesk", "intercom", "email", "slack")
REFUSAL_REASONS = {
    400: "malformed",
    401: "bad_signature",
    413: "too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}

REQUEST_SECONDS = Histogram(
    "request_seconds",
    "Time to answer an inbound request, by kind and outcome (ok, refused, unavailable, error)",
    ["kind", "outcome"],
    namespace=PREFIX,
    buckets=ACK_BUCKETS,
    registry=REGISTRY,
)
INTAKES = Counter(
    "intakes",
    "Intakes by source (the route, or email, slack) and result (new, repeat, reply, ignored, rejected) "
    "and reason when rejected or ignored",
    ["source", "result", "reason"],
    namespace=PREFIX,
    registry=REGISTRY,
)
AUTO_MERGES = Counter(
    "auto_merges",
    "Reports merged into an open problem at intake (their match at matching.auto_merge or above)",
    namespace=PREFIX,
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "outbox_pending",
    "Pending outbox items by kind (at scrape)",
    ["kind"],
    namespace=PREFIX,
    registry=REGISTRY,
)
OUTBOX_OLDEST = Gauge(
    "outbox_oldest_pending_seconds",
    "Age of the oldest pending outbox item by kind (at scrape)",
    ["kind"],
    namespace=PREFIX,
    registry=REGISTRY,
)
DEAD_LETTERS = Gauge(
    "outbox_dead",
    "Dead outbox items (given up) by kind (at scrape)",
    ["kind"],
    namespace=PREFIX,
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "deliveries",
    "Outbox deliveries settled by kind and outcome (done, retry, paced, dead)",
    ["kind", "outcome"],
    namespace=PREFIX,
    registry=REGISTRY,
)
# Where a delivery's time goes (`make bench --only intake` prints the table): wall seconds per stage,
# summed over deliveries that run concurrently, so shares compare stages rather than add up to a clock.
DELIVERY_STAGES = ("claim", "load", "embed", "match", "suggest", "render", "pacing", "slack", "record")
DELIVERY_STAGE_SECONDS = Histogram(
    "delivery_stage_seconds",
    "Outbox delivery time by stage: claim, load (state and candidates read), embed (a new report's "
    "embedding, in a thread), match (scoring, in a thread), suggest (suggestions "
    "stored), render, pacing (waiting for a channel's turn), slack "
    "(the call), record (the outcome settled)",
    ["stage"],
    namespace=PREFIX,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
    registry=REGISTRY,
)
_STAGE_CHILDREN = {name: DELIVERY_STAGE_SECONDS.labels(stage=name) for name in DELIVERY_STAGES}


class stage:
    """`with metrics.stage("load"):` adds the block's wall time to its delivery stage (a
    perf_counter pair and one histogram observation: cheap enough to stay on)."""

    __slots__ = ("_child", "_started")

    def __init__(self, name: str) -> None:
        self._child = _STAGE_CHILDREN[name]
        self._started = 0.0

    def __enter__(self) -> stage:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.observe(time.perf_counter() - self._started)


def observe_stage(name: str, seconds: float) -> None:
    _STAGE_CHILDREN[name].observe(seconds)


SLACK_CALLS = Counter(
    "slack_calls",
    "Slack Web API calls by method and outcome (ok, ratelimited, paced, transient, or the error class)",
    ["method", "outcome"],
    namespace=PREFIX,
    registry=REGISTRY,
)
SLACK_CALL_SECONDS = Histogram(
    "slack_call_seconds",
    "Slack Web API call latency by method",
    ["method"],
    namespace=PREFIX,
    buckets=CALL_BUCKETS,
    registry=REGISTRY,
)
SLACK_RETRY_AFTER = Histogram(
    "slack_retry_after_seconds",
    "Retry-After Slack asked for on a 429 (the time its channel or method is held back), by method",
    ["method"],
    namespace=PREFIX,
    buckets=(1, 2, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
JIRA_CALLS = Counter(
    "jira_calls",
    "Jira REST calls by operation and outcome (ok, unavailable, rejected, not_found)",
    ["operation", "outcome"],
    namespace=PREFIX,
    registry=REGISTRY,
)
JIRA_CALL_SECONDS = Histogram(
    "jira_call_seconds",
    "Jira REST call latency by operation",
    ["operation"],
    namespace=PREFIX,
    buckets=CALL_BUCKETS,
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "scheduler_runs",
    "Scheduled job runs by job and outcome (ok, enqueued, skipped, error)",
    ["job", "outcome"],
    namespace=PREFIX,
    registry=REGISTRY,
)
JOB_MISSES = Counter(
    "scheduler_misses",
    "Scheduled runs APScheduler missed (past the misfire grace) by job",
    ["job"],
    namespace=PREFIX,
    registry=REGISTRY,
)
JOB_LAG = Histogram(
    "scheduler_lag_seconds",
    "How late a scheduled job started after its scheduled time, by job",
    ["job"],
    namespace=PREFIX,
    buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
DB_POOL_IN_USE = Gauge(
    "db_pool_in_use",
    "Database connections checked out of the pool (at scrape)",
    namespace=PREFIX,
    registry=REGISTRY,
)
DB_ERRORS = Counter(
    "db_errors",
    "Database errors by kind (unavailable: down, hung, pool exhausted; error: anything else)",
    ["kind"],
    namespace=PREFIX,
    registry=REGISTRY,
)
# Fed by the Socket Mode client (issue 16): set to 1 while connected, count every reconnect.
SOCKET_MODE_CONNECTIONS = Gauge(
    "socket_mode_connections",
    "Open Socket Mode connections to Slack (0 when Socket Mode is off or down)",
    namespace=PREFIX,
    registry=REGISTRY,
)
SOCKET_MODE_RECONNECTS = Counter(
    "socket_mode_reconnects",
    "Socket Mode reconnections",
    namespace=PREFIX,
    registry=REGISTRY,
)
OPEN_PROBLEMS = Gauge(
    "open_problems",
    "Open problems by severity of their primary issue (at scrape)",
    ["severity"],
    namespace=PREFIX,
    registry=REGISTRY,
)
UNCLAIMED_PAST_SLA = Gauge(
    "unclaimed_past_sla",
    "Open issues nobody has claimed or answered past their first-response SLA, by severity (at scrape)",
    ["severity"],
    namespace=PREFIX,
    registry=REGISTRY,
)
FIRST_RESPONSE_SECONDS = Histogram(
    "first_response_seconds",
    "Time from an issue's arrival to its first response (claim or resolution), by severity",
    ["severity"],
    namespace=PREFIX,
    buckets=BUSINESS_BUCKETS,
    registry=REGISTRY,
)
RESOLUTION_SECONDS = Histogram(
    "resolution_seconds",
    "Time from an issue's arrival to its resolution, by severity",
    ["severity"],
    namespace=PREFIX,
    buckets=BUSINESS_BUCKETS,
    registry=REGISTRY,
)
BUILD = Info("build", "The running version", namespace=PREFIX, registry=REGISTRY)

try:
    BUILD.info({"version": version("supportbridge")})
except PackageNotFoundError:  # run from a checkout that was never installed
    BUILD.info({"version": "unknown"})

SEVERITIES = ("low", "normal", "high", "urgent")


def refusal_reason(status: int) -> str:
    return REFUSAL_REASONS.get(status, "other")


def outcome_of_status(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 503:
        return "unavailable"
    if status < 500:
        return "refused"
    return "error"


def slack_kind(text: str, content_type: str) -> str:
    """The request kind of a Slack body already checked by `check_slack_body`: event, action, command
    or view (`slack` for a shape none of these)."""
    if content_type == "application/json":
        body = json.loads(text)
        return "event" if body.get("type") in ("event_callback", "url_verification") else "slack"
    form = parse_qs(text, keep_blank_values=True, max_num_fields=1000)
    if form.get("command"):
        return "command"
    payloads = form.get("payload")
    if not payloads:
        return "slack"
    kind = json.loads(payloads[0]).get("type")
    if kind in ("view_submission", "view_closed"):
        return "view"
    return "action"


def observe_since(
    received: datetime | None, severity: str, histogram: Histogram, now: datetime | None = None
) -> None:
    """Observe the time from `received` to `now` (first response, resolution), for a known severity."""
    if received is None:
        return
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - received).total_seconds()
    label = severity if severity in SEVERITIES else "other"
    histogram.labels(severity=label).observe(max(seconds, 0.0))


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_response() -> web.Response:
    body, content_type = render()
    response = web.Response(body=body)
    response.content_type = content_type.split(";")[0]
    response.charset = "utf-8"
    return response


SLACK_KIND_KEY = web.RequestKey("supportbridge_metrics_kind", str)
INTAKE_ROUTES = {"/intake/webhook": "webhook", "/intake/zendesk": "zendesk", "/intake/intercom": "intercom"}


def route_kind(path: str) -> str | None:
    if path == "/slack/events":
        return "slack"
    if path in INTAKE_ROUTES:
        return "intake"
    if path == "/jira/webhook":
        return "jira_webhook"
    return None


INTAKE_IGNORED_KEY = web.RequestKey(
    "supportbridge_metrics_ignored", bool
)  # a helpdesk event answered 200 and not stored
INTAKE_ANSWER_KEY = web.RequestKey(
    "supportbridge_metrics_answer", bool
)  # a customer's answer joined its issue (answered 200)


@web.middleware
async def measure_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    """The one point every inbound request passes: latency by kind and outcome, intake refusals."""
    kind = route_kind(request.path)
    if kind is None:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        kind = request.get(SLACK_KIND_KEY, kind)
        REQUEST_SECONDS.labels(kind=kind, outcome=outcome_of_status(status)).observe(
            time.perf_counter() - started
        )
        if request.path in INTAKE_ROUTES:
            count_intake(request, INTAKE_ROUTES[request.path], status)


def count_intake(request: web.Request, source: str, status: int) -> None:
    """202 is a new issue, 200 a repeat (or a helpdesk event that is no issue, or a customer's answer
    that joined its issue), 4xx/5xx a refusal."""
    if status >= 400:
        INTAKES.labels(source=source, result="rejected", reason=refusal_reason(status)).inc()
    elif status == 202:
        INTAKES.labels(source=source, result="new", reason="").inc()
    elif request.get(INTAKE_IGNORED_KEY):
        INTAKES.labels(source=source, result="ignored", reason="").inc()
    elif request.get(INTAKE_ANSWER_KEY):
        INTAKES.labels(source=source, result="reply", reason="").inc()
    else:
        INTAKES.labels(source=source, result="repeat", reason="").inc()


def count_taken(source: str, created: bool) -> None:
    """An intake that is not an HTTP request (a Slack reaction or report form, an e-mail): new or repeat.
    `source` is our fixed name for the path ("slack", "email"), never the report's own field."""
    INTAKES.labels(source=source, result="new" if created else "repeat", reason="").inc()


def count_refused(source: str, reason: str) -> None:
    INTAKES.labels(source=source, result="rejected", reason=reason).inc()


# `Skipped.reason` is prose ("auto-reply (Auto-Submitted: auto-replied)"); the label is its kind.
EMAIL_SKIP_KINDS = (
    ("bounce", "bounce"),
    ("auto-reply", "auto_reply"),
    ("bulk mail", "bulk"),
    ("message too large", "too_large"),
    ("unparseable message", "malformed"),
    ("no sender address", "no_sender"),
)


def count_email_taken(outcome_kind: str) -> None:
    """An e-mail from the mailbox taken as a new issue, a duplicate (seen before) or a reply on an issue."""
    result = {"new_issue": "new", "reply": "reply"}.get(outcome_kind, "repeat")
    INTAKES.labels(source="email", result=result, reason="").inc()


def count_email_skipped(skipped_reason: str) -> None:
    """An e-mail not taken (automatic mail, too large, unreadable), by the kind of its reason."""
    kind = next((k for prefix, k in EMAIL_SKIP_KINDS if skipped_reason.startswith(prefix)), "other")
    INTAKES.labels(source="email", result="ignored", reason=kind).inc()


def watch_database_errors(engine: Any) -> None:
    """Count every error the database driver raises (SQLAlchemy's `handle_error`), by kind only."""
    if getattr(engine, "_supportbridge_metrics", False):
        return
    engine._supportbridge_metrics = True

    def on_error(context: Any) -> None:
        error = context.original_exception
        DB_ERRORS.labels(kind="unavailable" if is_unavailable_error(error) else "error").inc()

    event.listen(engine, "handle_error", on_error)
