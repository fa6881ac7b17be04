"""What a Jira webhook delivery does to our state, taken once: its delivery id (Jira's
`X-Atlassian-Webhook-Identifier`, the same on retries) is claimed in the transaction that applies it,
so a replay has no second effect. Each function returns the outcome the webhook answers with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.domain.jira import JiraSnapshot
from bot.services import escalation, releases
from db.queries.deliveries import claim_delivery, delivery_key
from integrations.jira_client import JiraVersion

DUPLICATE = "duplicate"


def _first(conn: Connection, identifier: str, now: datetime | None = None) -> bool:
    """True unless this delivery was taken before (a delivery without an identifier always applies)."""
    return not identifier or claim_delivery(conn, delivery_key("jira:", identifier), now=now)


def take_version_released(
    conn: Connection,
    identifier: str,
    version: JiraVersion,
    *,
    project: str | None,
    channel: str,
    config: AppConfig,
    now: datetime,
) -> str:
    """`jira:version_released`: "created" or "released" (or what else the release did), "duplicate"."""
    if not _first(conn, identifier, now):
        return DUPLICATE
    change = releases.apply_version_released(conn, version, project=project, channel=channel, now=now)
    releases.send_due_posts(conn, config, now)  # the release-day post now, not at the next check
    return change.outcome


def take_issue_deleted(conn: Connection, identifier: str, key: str) -> str:
    """`jira:issue_deleted`: "unlinked", "unknown issue" or "duplicate"."""
    if not _first(conn, identifier):
        return DUPLICATE
    return "unlinked" if escalation.unlink_deleted(conn, key) is not None else "unknown issue"


def take_issue_updated(
    conn: Connection,
    identifier: str,
    key: str,
    snapshot: JiraSnapshot,
    actor_name: str | None,
    *,
    complete: bool,
    wont_do: bool,
    ask: str | None,
) -> str:
    """`jira:issue_updated`: "updated", "unchanged", "unknown issue" or "duplicate"."""
    if not _first(conn, identifier):
        return DUPLICATE
    outcome = escalation.apply_jira_update(
        conn, key, snapshot, actor_name, complete=complete, wont_do=wont_do, ask=ask
    )
    if outcome is None:
        return "unknown issue"
    return "updated" if outcome.changes else "unchanged"
