"""`POST /jira/webhook`: Jira's changes flow back onto the cards.

Size (413) → signature, `X-Hub-Signature: sha256=…` over the raw body with JIRA_WEBHOOK_SECRET (401) →
JSON (400) → dispatch: `jira:issue_updated` re-renders the problem's cards and notes the change,
`jira:issue_deleted` unlinks, `jira:version_released` makes (or marks) a release released now, so its
release-day post goes out (versions of projects outside `releases.jira_projects`, when that is set, and
any version without `channels.releases` are ignored); any other event, or one about an issue we never
linked, is answered 200 and ignored. Each delivery is taken once: its `X-Atlassian-Webhook-Identifier`
(the same on Jira's retries) is stored in the transaction that applies it, so a replay has no second
effect.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from aiohttp import web

from bot.config import JiraConfig
from bot.domain.jira import JiraSnapshot
from bot.runtime import Runtime
from bot.services import jira_events
from db.models import utcnow
from db.session import DatabaseUnavailable, Work, answer_within
from handlers.common import runtime_of_request
from handlers.inbound import BadRequest, parse_json_object, read_body
from handlers.intake_http import error, unavailable
from integrations.jira_client import JiraError
from integrations.jira_webhook import (
    JiraEvent,
    JiraVersionEvent,
    MalformedWebhook,
    UnhandledEvent,
    is_ignored,
    parse_event,
    verify_signature,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature"
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"
# A version webhook names its project by id; looking the key up must leave time to answer Jira.
PROJECT_LOOKUP_SECONDS = 5.0
STORE_DEADLINE_SECONDS = 2.5


def _update_from(event: JiraEvent) -> tuple[JiraSnapshot, bool]:
    """What the event says of the issue, and whether it says all of it (its `complete` for
    `apply_jira_update`). A payload without the issue's fields (partial) says only what its changelog
    says."""
    if event.snapshot.status is not None:
        return event.snapshot, True
    changed = {field.lower(): after for field, _before, after in event.changes}
    partial = JiraSnapshot(
        status=changed.get("status"),
        assignee_name=changed.get("assignee"),
        resolution=changed.get("resolution"),
        updated_at=event.snapshot.updated_at,
    )
    return partial, False


class ProjectUnknown(Exception):
    """The version's project could not be looked up in Jira (answered 503: Jira retries)."""


async def _project_key(runtime: Runtime, project_id: str | None) -> str | None:
    """The key of a version's project; None when Jira is not configured or the payload names none."""
    if project_id is None or runtime.jira is None:
        return None
    try:
        # The same bound on each request, so the lookup's thread stops too when the wait gives up.
        lookup = runtime.jira.project(project_id, request_timeout=PROJECT_LOOKUP_SECONDS)
        project = await asyncio.wait_for(lookup, PROJECT_LOOKUP_SECONDS)
    except (JiraError, TimeoutError) as exc:
        raise ProjectUnknown(type(exc).__name__) from exc
    return project.key if project is not None else None


async def version_released(runtime: Runtime, event: JiraVersionEvent, identifier: str) -> web.Response:
    channel = runtime.config.channels.releases
    if channel is None:
        return web.json_response({"ignored": True, "reason": "no channels.releases configured"})
    wanted = runtime.config.releases.jira_projects
    try:
        project = await _project_key(runtime, event.version.project_id)
    except ProjectUnknown:
        if wanted:
            log.warning("jira version webhook: project lookup failed; Jira will retry")
            return error(503, "could not look up the version's project in Jira; retry later")
        project = None
    if wanted and project not in wanted:
        return web.json_response({"ignored": True, "reason": "project not in releases.jira_projects"})
    now = utcnow()
    work = partial(
        jira_events.take_version_released,
        identifier=identifier,
        version=event.version,
        project=project,
        channel=channel,
        config=runtime.config,
        now=now,
    )
    try:
        # A hung database: 503 in time, and Jira retries.
        result = await answer_within(runtime.database.transaction(work), STORE_DEADLINE_SECONDS)
    except (DatabaseUnavailable, TimeoutError):
        return unavailable()
    log.info("jira webhook", extra={"result": result, "kind": event.kind})
    if result in ("created", "released"):
        runtime.deliverer.wake()
    return web.json_response({"result": result})


def _asked(config: JiraConfig, event: JiraEvent) -> str | None:
    """Who in Slack the issue's Jira assignee is, when the configuration says."""
    email, account = event.snapshot.assignee_email, event.snapshot.assignee_account_id
    if email and email.lower() in config.users:
        return config.users[email.lower()]
    if account and account in config.users:
        return config.users[account]
    return None


async def issue_changed(runtime: Runtime, event: JiraEvent, identifier: str) -> web.Response:
    config = runtime.config.jira
    ask = _asked(config, event)
    snapshot, complete = _update_from(event)

    work: Work[str]
    if event.kind == "deleted":
        work = partial(jira_events.take_issue_deleted, identifier=identifier, key=event.key)
    else:
        work = partial(
            jira_events.take_issue_updated,
            identifier=identifier,
            key=event.key,
            snapshot=snapshot,
            actor_name=event.actor_name,
            complete=complete,
            wont_do=config.is_wont_do(snapshot.resolution),
            ask=ask,
        )
    try:
        # A hung database: 503 in time, and Jira retries.
        result = await answer_within(runtime.database.transaction(work), STORE_DEADLINE_SECONDS)
    except (DatabaseUnavailable, TimeoutError):
        return unavailable()
    log.info("jira webhook", extra={"result": result, "kind": event.kind})
    if result in ("updated", "unlinked"):
        runtime.deliverer.wake()
    return web.json_response({"result": result})


async def jira_webhook(request: web.Request) -> web.Response:
    runtime = runtime_of_request(request)
    secret = runtime.settings.jira_webhook_secret
    if secret is None:
        return error(404, "the Jira webhook is off: set JIRA_WEBHOOK_SECRET")
    body = await read_body(request)
    if not verify_signature(secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER)):
        raise BadRequest(401, f"missing or bad {SIGNATURE_HEADER} signature")
    try:
        event = parse_event(parse_json_object(body))
    except MalformedWebhook as exc:
        return error(400, exc.reason)
    if isinstance(event, UnhandledEvent):
        if not is_ignored(event.name):
            # Worth knowing: Atlassian added an event, or the webhook subscribes to more than it needs.
            log.info("jira webhook: unknown event ignored", extra={"event": event.name[:100]})
        return web.json_response({"ignored": True})
    identifier = request.headers.get(IDENTIFIER_HEADER, "").strip()[:200]
    if isinstance(event, JiraVersionEvent):
        return await version_released(runtime, event, identifier)
    return await issue_changed(runtime, event, identifier)


def register(app: web.Application) -> None:
    app.router.add_post("/jira/webhook", jira_webhook)
