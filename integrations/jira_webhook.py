"""Jira Cloud webhooks: signature check and parsing into a typed event. Pure, no I/O.

A webhook registered with a secret carries ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw
body, keyed with the secret>`` (Jira Cloud, since 2024; the WebSub ``method=signature`` form).
Payloads: https://developer.atlassian.com/server/jira/platform/webhooks/ - ``webhookEvent``,
``timestamp`` (ms), ``user`` (the actor), ``issue`` (``id``, ``key``, ``fields``) and, for updates,
``changelog.items[{field, fieldtype, fieldId, from, fromString, to, toString}]``.

Dispatch: the issue events below are parsed into :class:`JiraEvent`, and ``jira:version_released``
(body ``{"timestamp", "webhookEvent", "version": {"id", "name", "releaseDate", "projectId", ...}}``;
the project is named by id only) into :class:`JiraVersionEvent`; events we know and do not need are
listed by name in :data:`IGNORED_EVENTS` and unknown ones both give :class:`UnhandledEvent` (the
handler answers 2xx, and logs the unknown ones at INFO); a body that is not a JSON object, an issue
event without ``issue.key`` or a version event without ``version.id`` and ``version.name`` raises
:class:`MalformedWebhook` (answered 400).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.domain.jira import JiraSnapshot, jira_time
from integrations.jira_client import JiraVersion, version_from_raw

EventKind = Literal["updated", "deleted"]

# Changelog fields a card shows. Jira names a change by its display name ("Fix Version") in
# `field` and by its id ("fixVersions") in `fieldId` (Cloud only); either is recognised.
TRACKED_FIELDS: dict[str, str] = {
    "status": "status",
    "assignee": "assignee",
    "resolution": "resolution",
    "fix version": "Fix Version",
    "fixversions": "Fix Version",
}

IGNORED_EVENTS = frozenset(
    {
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "worklog_created",
        "worklog_updated",
        "worklog_deleted",
        "attachment_created",
        "attachment_deleted",
        "issuelink_created",
        "issuelink_deleted",
        "issue_property_set",
        "issue_property_deleted",
        "sprint_created",
        "sprint_updated",
        "sprint_deleted",
        "sprint_started",
        "sprint_closed",
        "board_created",
        "board_updated",
        "board_deleted",
        "board_configuration_changed",
        "jira:version_created",
        "jira:version_updated",
        "jira:version_deleted",
        "jira:version_unreleased",
        "jira:version_moved",
        "jira:version_merged",
        "project_created",
        "project_updated",
        "project_deleted",
        "project_archived",
        "project_restored",
        "user_created",
        "user_updated",
        "user_deleted",
        "option_voting_changed",
        "option_watching_changed",
        "option_unassigned_issues_changed",
        "option_subtasks_changed",
        "option_attachments_changed",
        "option_issuelinks_changed",
        "option_timetracking_changed",
    }
)


class MalformedWebhook(ValueError):
    """The body cannot be a Jira webhook; ``reason`` says why (safe to log, holds no payload text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JiraEvent:
    kind: EventKind
    key: str
    issue_id: str | None  # Jira's numeric id, as a string
    timestamp: int | None  # ms since the epoch
    snapshot: JiraSnapshot  # the issue's fields; all None when the payload carries none
    labels: tuple[str, ...]
    summary: str | None
    changes: tuple[tuple[str, str | None, str | None], ...]  # (field, fromString, toString)
    actor_name: str | None


@dataclass(frozen=True)
class JiraVersionEvent:
    """A version (a release) changed in Jira: for now only ``released``."""

    kind: Literal["released"]
    version: JiraVersion
    timestamp: int | None  # ms since the epoch


@dataclass(frozen=True)
class UnhandledEvent:
    """An event we take no action on: listed in :data:`IGNORED_EVENTS`, or unknown to us."""

    name: str


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is ``sha256=<hex HMAC-SHA256 of body>`` for ``secret``.

    Only sha256 is accepted, whatever other ``method=`` a sender names."""
    if not secret or not header:
        return False
    method, sep, signature = header.strip().partition("=")
    if not sep or method.strip().lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    # bytes: compare_digest refuses non-ASCII str, and a header is whatever the sender put there.
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _names(values: Any, attribute: str | None = None) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    picked = (_object(v).get(attribute) if attribute else v for v in values)
    return tuple(v for v in picked if isinstance(v, str) and v)


def _changes(changelog: Any) -> tuple[tuple[str, str | None, str | None], ...]:
    out = []
    items = _object(changelog).get("items")
    for item in items if isinstance(items, list) else []:
        item = _object(item)
        name = None
        for candidate in (item.get("fieldId"), item.get("field")):
            if isinstance(candidate, str) and candidate.lower() in TRACKED_FIELDS:
                name = TRACKED_FIELDS[candidate.lower()]
                break
        if name is not None:
            out.append((name, _text(item.get("fromString")), _text(item.get("toString"))))
    return tuple(out)


def _issue_event(kind: EventKind) -> Callable[[Mapping[str, Any]], JiraEvent]:
    def parse(payload: Mapping[str, Any]) -> JiraEvent:
        issue = _object(payload.get("issue"))
        key = issue.get("key")
        if not isinstance(key, str) or not key.strip():
            raise MalformedWebhook(f"{payload.get('webhookEvent')} without issue.key")
        fields = _object(issue.get("fields"))
        status = _object(fields.get("status"))
        assignee = _object(fields.get("assignee"))
        timestamp = payload.get("timestamp")
        issue_id = issue.get("id")
        return JiraEvent(
            kind=kind,
            key=key.strip().upper(),
            issue_id=str(issue_id) if isinstance(issue_id, str | int) and issue_id != "" else None,
            timestamp=timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None,
            snapshot=JiraSnapshot(
                status=_text(status.get("name")),
                status_category=_text(_object(status.get("statusCategory")).get("key")),
                assignee_name=_text(assignee.get("displayName")),
                assignee_account_id=_text(assignee.get("accountId")),
                assignee_email=_text(assignee.get("emailAddress")),
                resolution=_text(_object(fields.get("resolution")).get("name")),
                fix_versions=_names(fields.get("fixVersions"), "name"),
                updated_at=jira_time(fields.get("updated")) or jira_time(timestamp),
            ),
            labels=_names(fields.get("labels")),
            summary=_text(fields.get("summary")),
            changes=_changes(payload.get("changelog")),
            actor_name=_text(_object(payload.get("user")).get("displayName")),
        )

    return parse


def _version_released(payload: Mapping[str, Any]) -> JiraVersionEvent:
    version = version_from_raw(_object(payload.get("version")))
    if version is None:
        raise MalformedWebhook(f"{payload.get('webhookEvent')} without version.id and version.name")
    timestamp = payload.get("timestamp")
    return JiraVersionEvent(
        kind="released",
        version=version,
        timestamp=timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None,
    )


# Events we act on. A created issue is treated as its current state (as an update): an issue
# created in Jira is only ours once linked, and then its state is what matters.
HANDLED_EVENTS: dict[str, Callable[[Mapping[str, Any]], JiraEvent | JiraVersionEvent]] = {
    "jira:issue_created": _issue_event("updated"),
    "jira:issue_updated": _issue_event("updated"),
    "jira:issue_deleted": _issue_event("deleted"),
    "jira:version_released": _version_released,
}


def parse_event(body: bytes | Mapping[str, Any]) -> JiraEvent | JiraVersionEvent | UnhandledEvent:
    """The event in a webhook body (raw, or already decoded); :class:`UnhandledEvent` for one we do not
    handle (listed or unknown)."""
    try:
        payload = body if isinstance(body, Mapping) else json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedWebhook("body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedWebhook("body is not a JSON object")
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or not event:
        raise MalformedWebhook("no webhookEvent")
    parse = HANDLED_EVENTS.get(event)
    if parse is None:
        return UnhandledEvent(event)  # IGNORED_EVENTS, or an event Jira added since
    return parse(payload)


def is_ignored(event_name: str) -> bool:
    """Known and deliberately ignored (as opposed to unknown, which is worth a log line)."""
    return event_name in IGNORED_EVENTS
