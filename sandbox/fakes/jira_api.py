"""A stateful fake of Jira Cloud's REST API (v2 and v3), served over real HTTP on loopback.

    async with FakeJira() as jira_fake:
        client = await asyncio.to_thread(
            jira.JIRA, server=jira_fake.url, basic_auth=(jira_fake.email, jira_fake.api_token)
        )
        issue = await asyncio.to_thread(
            client.create_issue, project="PROJ", summary="Broken", issuetype={"name": "Bug"}
        )
        assert jira_fake.issues[issue.key]["fields"]["summary"] == "Broken"

Every request under ``/rest/api/{2,3}`` is checked against Atlassian's published contract
(violations recorded in ``.violations`` and answered 400); success responses are checked too
(``.response_violations`` then points at a bug in this fake).  Business rules Jira enforces
beyond the schema (a summary is required, v3 wants Atlassian Document Format, ...) are answered
with Jira-shaped 400s and listed in ``.rejections``.

Stored issues keep friendly values: ``issues["PROJ-1"]["fields"]["status"] == "In Progress"``,
``["priority"] == "High"``, ``["issuetype"] == "Bug"``, ``["resolution"] == "Won't Do"``,
``["fixVersions"] == ["2.4.0"]``; descriptions and comment bodies are kept exactly as sent (a string
in v2, an ADF document in v3) and rendered for the version asked.

What a site offers to create issues with: ``add_project("WEB", issue_types=["Bug", "Task"])`` (each
project its own issue types, served by ``GET issue/createmeta/{project}/issuetypes``; creating an
issue of a type the project lacks is refused), ``add_issue_type(name, subtask=...)`` and
``add_priority(name)`` (``GET priority``).

Failures (``target`` is ``"METHOD api/path"`` with shell wildcards, e.g. ``"POST issue"``):

- ``fail(target, status=429, retry_after=5)`` / ``status=500`` / ``status=503``: answered before
  anything happens, Jira-shaped (``errorMessages``), 429/503 with ``Retry-After``;
- ``fail(target, drop_connection=True)``: the socket is closed before anything happens;
- ``fail(target, slow=2.0)``: answered 2 s late - beyond a client's timeout the client gives up,
  but the request is still carried out, as Jira would;
- ``fail_after(target)``: carried out (an issue is created), then the socket is closed without an
  answer - a client that re-sends would create a second issue;
- ``recover()`` removes them all; ``times=None`` (or ``fail_all``) keeps a failure until then.

People's changes, as Jira's UI makes them: ``set_status``, ``resolve(key, "Won't Do",
fix_versions=[...])``, ``set_assignee``, ``set_fix_versions``, ``delete_issue``; each is kept as a
changelog entry, and ``webhook_payload("jira:issue_updated", key)`` turns the latest one into the body
Jira Cloud would POST to the bot (shaped like ``tests/fixtures/jira/*.json``). Versions (releases):
``add_version(project, name, release_date=...)``, ``release_version``, and
``version_webhook_payload("jira:version_released", project, name)``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import fnmatch
import functools
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .contracts import ContractViolation, jira_spec, validate_jira_request, validate_jira_response
from .slack_api import Failure, FakeServer

_API_PATH = re.compile(r"^/rest/api/(?P<version>2|3|latest)/(?P<sub>.*)$")
_ISSUE_REF = r"(?P<issue>[A-Za-z][A-Za-z0-9_]*-\d+|\d+)"

# name -> (id, statusCategory key, statusCategory id, colour)
_STATUSES: dict[str, tuple[str, str, int, str]] = {
    "To Do": ("10000", "new", 2, "blue-gray"),
    "In Progress": ("3", "indeterminate", 4, "yellow"),
    "Done": ("10001", "done", 3, "green"),
}
_CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
# The default "simplified" workflow: global transitions to every status.
_TRANSITIONS: list[tuple[str, str]] = [("11", "To Do"), ("21", "In Progress"), ("31", "Done")]
_ISSUE_TYPES: list[tuple[str, str, str]] = [
    ("10001", "Task", "A small, distinct piece of work."),
    ("10002", "Bug", "A problem or error."),
    ("10003", "Story", "A user-facing feature or requirement."),
]
_PRIORITIES: list[tuple[str, str, str]] = [
    ("1", "Highest", "#d04437"),
    ("2", "High", "#f15C75"),
    ("3", "Medium", "#f79232"),
    ("4", "Low", "#707070"),
    ("5", "Lowest", "#999999"),
]
_DEFAULT_PRIORITY = "Medium"
# name -> (id, description); the resolutions of a Jira Cloud site with the default scheme.
_RESOLUTIONS: dict[str, tuple[str, str]] = {
    "Done": ("10000", "Work has been completed on this issue."),
    "Won't Do": ("10001", "This issue won't be actioned."),
    "Duplicate": ("10002", "The problem is a duplicate of an existing issue."),
    "Cannot Reproduce": ("10003", "All attempts at reproducing this issue failed."),
}
# (id, name, clauseNames, schema type, navigable)
_SYSTEM_FIELDS: list[tuple[str, str, list[str], str]] = [
    ("summary", "Summary", ["summary"], "string"),
    ("description", "Description", ["description"], "string"),
    ("issuetype", "Issue Type", ["issuetype", "type"], "issuetype"),
    ("project", "Project", ["project"], "project"),
    ("priority", "Priority", ["priority"], "priority"),
    ("labels", "Labels", ["labels"], "array"),
    ("status", "Status", ["status"], "status"),
    ("assignee", "Assignee", ["assignee"], "user"),
    ("reporter", "Reporter", ["reporter"], "user"),
    ("creator", "Creator", ["creator"], "user"),
    ("created", "Created", ["created", "createdDate"], "datetime"),
    ("updated", "Updated", ["updated", "updatedDate"], "datetime"),
    ("resolution", "Resolution", ["resolution"], "resolution"),
    ("resolutiondate", "Resolved", ["resolved", "resolutiondate"], "datetime"),
    ("comment", "Comment", ["comment"], "comments-page"),
    ("issuelinks", "Linked Issues", ["issueLink"], "array"),
    ("duedate", "Due date", ["due", "duedate"], "date"),
    ("fixVersions", "Fix versions", ["fixVersion"], "array"),
]
_SETTABLE_SYSTEM_FIELDS = {
    "summary", "description", "issuetype", "project", "priority", "labels", "assignee",
    "reporter", "duedate", "components", "fixVersions", "parent",
}  # fmt: skip


class JiraError(Exception):
    """Answered as ``{"errorMessages": [...], "errors": {...}}`` with ``status``."""

    def __init__(
        self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {messages or ''} {errors or ''}")
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}


@dataclass
class JiraCall:
    method: str
    path: str  # full path, e.g. /rest/api/2/issue/PROJ-1
    api_path: str  # after /rest/api/{version}/, e.g. issue/PROJ-1 ("" outside the REST API)
    query: dict[str, list[str]]
    json: Any


@dataclass
class _Request:
    method: str
    version: str
    sub: str
    query: dict[str, list[str]]
    body: Any
    match: re.Match[str]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        """A multi-valued, comma-separable parameter (``fields=a,b&fields=c``)."""
        return [part.strip() for v in self.query.get(name, []) for part in v.split(",") if part.strip()]


@dataclass
class Project:
    id: str
    key: str
    name: str
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    versions: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "released", ...}
    issue_types: list[str] = field(default_factory=list)  # the names one can create in this project

    def version(self, ref: Any) -> dict[str, Any] | None:
        """``{"id": ...}``, ``{"name": ...}`` or a bare name -> the version, or None."""
        ref = ref if isinstance(ref, dict) else {"name": ref}
        return next(
            (v for v in self.versions if str(ref.get("id", "")) == v["id"] or ref.get("name") == v["name"]),
            None,
        )


@dataclass
class _AfterFailure:
    """Process the request fully, then drop the connection without answering."""

    pattern: str
    remaining: int | None


class FakeJira(FakeServer):
    """Stateful fake of the Jira Cloud REST API (see module docstring)."""

    def __init__(
        self,
        email: str = "bot@example.com",
        api_token: str = "jira-test-token",
        *,
        projects: tuple[str, ...] = ("PROJ",),
        display_name: str = "Supportbridge Bot",
        deployment_type: str = "Cloud",
        check_contract: bool = True,
    ) -> None:
        super().__init__()
        # Off only where the contracts are absent (the sandbox on a fresh clone); tests always check.
        self.check_contract = check_contract
        # serverInfo's deploymentType: the `jira` package searches with /search/jql on "Cloud" and
        # with the legacy /search otherwise ("Server" for a Data Center site).
        self.deployment_type = deployment_type
        self.email = email
        self.api_token = api_token
        self.account_id = "712020:00000000-0000-4000-8000-000000000001"
        self.display_name = display_name
        self.calls: list[JiraCall] = []
        self.rejections: list[str] = []  # Jira business-rule 400s (not contract violations)
        self.projects: dict[str, Project] = {}
        self.issues: dict[str, dict[str, Any]] = {}  # key -> stored issue (see module docstring)
        self.deleted: dict[str, dict[str, Any]] = {}  # key -> the issue as it was when deleted
        self.custom_fields: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, str]] = {
            self.account_id: {"accountId": self.account_id, "displayName": display_name, "email": email}
        }
        self._ids = itertools.count(10001)
        self._custom_field_ids = itertools.count(10010)
        self._project_ids = itertools.count(10000)
        self._remote_link_ids = itertools.count(10000)
        self._version_ids = itertools.count(10010)
        self._changelog_ids = itertools.count(10100)
        self._clock = itertools.count(0)
        self._after_failures: list[_AfterFailure] = []
        self._default_actor: str | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[[_Request], tuple[int, Any]]]] = []
        # The site's issue types (id, name, description) and which are sub-tasks; its priorities
        # (id, name, colour), highest first. Each project offers some of the issue types.
        self.issue_types: list[tuple[str, str, str]] = list(_ISSUE_TYPES)
        self.subtask_types: set[str] = set()
        self.priorities: list[tuple[str, str, str]] = list(_PRIORITIES)
        self._route("GET", r"serverInfo", self._server_info)
        self._route("GET", r"myself", self._myself)
        self._route("GET", r"field", self._fields)
        self._route("GET", r"issuetype", self._issue_types)
        self._route("GET", r"priority", self._priorities)
        self._route("GET", r"status", self._statuses)
        self._route("GET", r"project", self._project_list)
        self._route("GET", r"project/(?P<project>[^/]+)", self._project)
        self._route("GET", r"project/(?P<project>[^/]+)/versions", self._project_versions)
        self._route("GET", r"resolution", self._resolutions)
        self._route("GET", r"issue/createmeta/(?P<project>[^/]+)/issuetypes", self._createmeta_issue_types)
        self._route("POST", r"issue", self._create_issue)
        self._route("GET", rf"issue/{_ISSUE_REF}", self._get_issue)
        self._route("PUT", rf"issue/{_ISSUE_REF}", self._edit_issue)
        self._route("DELETE", rf"issue/{_ISSUE_REF}", self._delete_issue)
        self._route("GET", rf"issue/{_ISSUE_REF}/comment", self._get_comments)
        self._route("POST", rf"issue/{_ISSUE_REF}/comment", self._add_comment)
        self._route("GET", rf"issue/{_ISSUE_REF}/remotelink", self._get_remote_links)
        self._route("POST", rf"issue/{_ISSUE_REF}/remotelink", self._add_remote_link)
        self._route("GET", rf"issue/{_ISSUE_REF}/transitions", self._get_transitions)
        self._route("POST", rf"issue/{_ISSUE_REF}/transitions", self._do_transition)
        self._route("GET", r"search", self._search_legacy)
        self._route("POST", r"search", self._search_legacy)
        self._route("GET", r"search/jql", self._search_jql)
        self._route("POST", r"search/jql", self._search_jql)
        for key in projects:
            self.add_project(key)

    async def __aenter__(self) -> FakeJira:
        await self.start()
        return self

    @property
    def url(self) -> str:
        """Site URL for ``jira.JIRA(server=...)`` (no trailing slash)."""
        return self.base_url

    # ------------------------------------------------------------------ seeding / introspection

    def add_project(self, key: str, name: str | None = None, *, issue_types: list[str] | None = None) -> str:
        """Create a project offering `issue_types` (default: every issue type of the site that is not a
        sub-task); returns its id."""
        known = [t[1] for t in self.issue_types]
        if unknown := [t for t in issue_types or [] if t not in known]:
            raise ValueError(f"no issue type {unknown[0]!r} on the site: add_issue_type() it first")
        project = Project(
            id=str(next(self._project_ids)),
            key=key.upper(),
            name=name or f"{key.title()} Project",
            issue_types=list(issue_types or [t for t in known if t not in self.subtask_types]),
        )
        self.projects[project.key] = project
        return project.id

    def add_issue_type(self, name: str, *, subtask: bool = False, projects: tuple[str, ...] = ()) -> str:
        """Add an issue type to the site (and to `projects`); returns its id."""
        type_id = str(10001 + len(self.issue_types))
        self.issue_types.append((type_id, name, f"{name} issues."))
        if subtask:
            self.subtask_types.add(name)
        for key in projects:
            self.projects[key.upper()].issue_types.append(name)
        return type_id

    def add_priority(self, name: str, colour: str = "#cccccc") -> str:
        """Add a priority to the site, after the others (the lowest); returns its id."""
        priority_id = str(len(self.priorities) + 1)
        self.priorities.append((priority_id, name, colour))
        return priority_id

    def add_custom_field(self, name: str, *, schema_type: str = "string") -> str:
        """Register a custom field (so issues may set it); returns its id ("customfield_100NN")."""
        field_id = f"customfield_{next(self._custom_field_ids)}"
        self.custom_fields[field_id] = {"name": name, "type": schema_type}
        return field_id

    def add_user(self, display_name: str, email: str | None = None) -> str:
        """Create a user (e.g. an assignee); returns its accountId."""
        account_id = f"712020:00000000-0000-4000-8000-{len(self.users) + 1:012d}"
        self.users[account_id] = {"accountId": account_id, "displayName": display_name, "email": email or ""}
        return account_id

    def add_version(
        self,
        project: str,
        name: str,
        *,
        released: bool = False,
        release_date: datetime.date | None = None,
        description: str = "",
    ) -> str:
        """Create a version (a release) in ``project``, optionally with a release date; returns its id."""
        target = self.projects[project.upper()]
        if target.version(name) is not None:
            raise ValueError(f"version {name!r} already exists in {target.key}")
        version_id = str(next(self._version_ids))
        version = {
            "id": version_id,
            "name": name,
            "released": released,
            "archived": False,
            "releaseDate": release_date.isoformat() if release_date else None,
            "description": description,
        }
        target.versions.append(version)
        return version_id

    def release_version(
        self,
        project: str,
        name: str,
        *,
        release_date: datetime.date | None = None,
        released: bool = True,
    ) -> str:
        """Mark a version released, as "Release" in Jira's UI does (setting its date when given), or
        with ``released=False`` only move its date; returns its id. :meth:`version_webhook_payload`
        then describes it."""
        version = self.projects[project.upper()].version(name)
        if version is None:
            raise KeyError(f"no version {name!r} in {project}")
        version["released"] = released
        if release_date is not None:
            version["releaseDate"] = release_date.isoformat()
        return str(version["id"])

    def version_webhook_payload(self, event: str, project: str, name: str) -> dict[str, Any]:
        """A Jira Cloud ``jira:version_*`` webhook body for the version as the fake now holds it:
        ``{"timestamp", "webhookEvent", "version": {...}}`` - the version as REST v2 renders it
        (``projectId``, no project key), as Atlassian's webhook documentation shows."""
        if not event.startswith("jira:version_"):
            raise ValueError(f"version_webhook_payload builds version events only, not {event!r}")
        target = self.projects[project.upper()]
        version = target.version(name)
        if version is None:
            raise KeyError(f"no version {name!r} in {project}")
        return {
            "timestamp": self._epoch_ms(),
            "webhookEvent": event,
            "version": self._version("2", target, version),
        }

    def create_issue(self, project: str, summary: str, **fields: Any) -> str:
        """Seed an issue directly (friendly values: status="Done", priority="High",
        fixVersions=["2.4.0"] (created when missing), ...); returns its key."""
        target = self.projects[project.upper()]
        for name in fields.get("fixVersions", []):
            if target.version(name) is None:
                self.add_version(target.key, name)
        return self._store_issue(target, {"summary": summary, **fields})["key"]

    # -- changing issues the way people do in Jira's UI (each change is kept for webhook_payload)

    def set_status(self, key: str, status: str, *, by: str | None = None) -> None:
        """Move the issue to ``status`` ("To Do", "In Progress", "Done"); leaving Done clears the
        resolution, entering it sets resolution "Done" (use :meth:`resolve` for another one)."""
        if status == "Done":
            self.resolve(key, by=by)
            return
        issue = self.issue(key)
        items = [self._status_change(issue, status), *self._resolution_change(issue, None)]
        self._record_change(issue, items, by)

    def resolve(
        self,
        key: str,
        resolution: str = "Done",
        *,
        fix_versions: list[str] | None = None,
        by: str | None = None,
    ) -> None:
        """Transition to Done with ``resolution`` ("Done", "Won't Do", "Duplicate", "Cannot Reproduce")
        and, when given, set the fix versions (created in the project when missing)."""
        if resolution not in _RESOLUTIONS:
            raise ValueError(f"unknown resolution {resolution!r}; one of {sorted(_RESOLUTIONS)}")
        issue = self.issue(key)
        items = []
        if issue["fields"]["status"] != "Done":
            items.append(self._status_change(issue, "Done"))
        items.extend(self._resolution_change(issue, resolution))
        if fix_versions is not None:
            project = self.projects[issue["project"]]
            for name in fix_versions:
                if project.version(name) is None:
                    self.add_version(project.key, name)
            items.extend(self._fix_version_changes(issue, fix_versions))
        self._record_change(issue, items, by)

    def set_assignee(self, key: str, account_id: str | None, *, by: str | None = None) -> None:
        """Assign the issue to ``account_id`` (see :meth:`add_user`), or unassign with None."""
        if account_id is not None and account_id not in self.users:
            raise KeyError(f"no user {account_id!r}; create one with add_user()")
        issue = self.issue(key)
        self._record_change(issue, [self._assignee_change(issue, account_id)], by)

    def set_fix_versions(self, key: str, names: list[str], *, by: str | None = None) -> None:
        """Set the fix versions (created in the project when missing)."""
        issue = self.issue(key)
        project = self.projects[issue["project"]]
        for name in names:
            if project.version(name) is None:
                self.add_version(project.key, name)
        self._record_change(issue, self._fix_version_changes(issue, names), by)

    def delete_issue(self, key: str) -> None:
        """Delete the issue (REST then answers 404 for it); it stays in ``.deleted`` so that
        ``webhook_payload("jira:issue_deleted", key)`` can describe it."""
        issue = self.issues.pop(key.upper())
        self.deleted[issue["key"]] = issue

    def webhook_payload(
        self,
        event: str,
        key: str,
        *,
        changes: list[tuple[str, str | None, str | None]] | None = None,
        user: str | None = None,
    ) -> dict[str, Any]:
        """A Jira Cloud webhook body (``jira:issue_updated`` / ``_created`` / ``_deleted``) for the
        issue as the fake now holds it, shaped like tests/fixtures/jira/*.json.

        ``changes``: changelog items as ``(field, fromString, toString)``, e.g.
        ``[("status", "To Do", "Done")]``; ids are filled in from the fake's data. By default, the
        items of the last change made with :meth:`resolve`, :meth:`set_assignee`, ... or through
        REST.  ``user``: the actor's accountId or display name (default: whoever made that change).
        """
        if event not in ("jira:issue_updated", "jira:issue_created", "jira:issue_deleted"):
            raise ValueError(f"webhook_payload builds issue events only, not {event!r}")
        issue = self.issues.get(key.upper()) or self.deleted[key.upper()]
        last = issue["changelog"][-1] if issue["changelog"] else None
        if user is None:
            actor = last["author"] if last else self._human()
        else:
            actor = next(
                (a for a, u in self.users.items() if user in (a, u["displayName"])),
                None,
            ) or self.add_user(user)
        payload: dict[str, Any] = {
            "timestamp": self._epoch_ms(),
            "webhookEvent": event,
            "issue_event_type_name": {
                "jira:issue_created": "issue_created",
                "jira:issue_deleted": "issue_deleted",
            }.get(event, "issue_generic"),
            "user": self._user("2", actor),
            # webhooks carry the issue as REST v2 renders it, less the "expand" hint
            "issue": {
                k: v for k, v in self._render_issue("2", issue, ["*navigable"]).items() if k != "expand"
            },
        }
        if event == "jira:issue_updated":
            if changes is not None:
                items = [self._change_item(issue, *change) for change in changes]
                history_id = str(next(self._changelog_ids))
            else:
                items = list(last["items"]) if last else []
                history_id = last["id"] if last else str(next(self._changelog_ids))
            payload["changelog"] = {"id": history_id, "items": items}
            if any(i["field"] == "resolution" and i["to"] for i in items):
                payload["issue_event_type_name"] = "issue_resolved"
            elif items and all(i["field"] == "assignee" for i in items):
                payload["issue_event_type_name"] = "issue_assigned"
        return payload

    def issue(self, key: str) -> dict[str, Any]:
        return self.issues[key.upper()]

    def comments(self, key: str) -> list[dict[str, Any]]:
        return self.issues[key.upper()]["comments"]

    def remote_links(self, key: str) -> list[dict[str, Any]]:
        return self.issues[key.upper()]["remotelinks"]

    def fail_after(self, target: str, times: int | None = 1) -> None:
        """Process the next ``times`` requests to ``target`` fully (state changes, an issue gets
        created), then drop the connection without answering: the client sees a connection error
        for a request that did succeed, as after a network blip. ``target`` as in :meth:`fail`
        (``"POST issue"``, ``"POST issue/*/comment"``). :meth:`recover` removes these too.

        (``fail(..., drop_connection=True)`` drops *before* anything happens; ``fail(..., slow=s)``
        delays, then processes and answers - even when the client has already given up.)"""
        self._after_failures.append(_AfterFailure(target, times))

    def recover(self, target: str | None = None) -> None:
        super().recover(target)
        self._after_failures = [f for f in self._after_failures if target is not None and f.pattern != target]

    def calls_to(self, pattern: str) -> list[JiraCall]:
        """Calls matching ``"METHOD api/path"`` with shell wildcards, e.g. ``"POST issue/*/comment"``."""
        return [c for c in self.calls if fnmatch.fnmatchcase(f"{c.method} {c.api_path or c.path}", pattern)]

    def _recent_activity(self) -> str:
        calls = "\n    ".join(f"{c.method} {c.path}" for c in self.calls[-10:]) or "(none)"
        text = f"\n  last calls:\n    {calls}"
        for title, items in (("violations", self.violations), ("rejections", self.rejections)):
            if items:
                text += f"\n  {title}:\n    " + "\n    ".join(items)
        return text

    # ------------------------------------------------------------------ HTTP

    def _route(self, method: str, pattern: str, handler: Callable[[_Request], tuple[int, Any]]) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    async def _load_contract(self) -> None:
        if self.check_contract:
            await asyncio.to_thread(jira_spec)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=10 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def _failure_response(self, failure: Failure) -> web.Response:
        status = failure.status or 400
        headers = {}
        if status in (429, 503) and failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after))
        message = failure.error or {
            429: "Rate limit exceeded.",
            503: "Service unavailable, please try again later.",
        }.get(status, "Internal server error")
        return _error_response(status, [message], {}, headers)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            email, _, token = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return email == self.email and token == self.api_token

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._respond(request)
        api = _API_PATH.match(request.path)
        target = f"{request.method} {api['sub'] if api else request.path}"
        after = next((f for f in self._after_failures if fnmatch.fnmatchcase(target, f.pattern)), None)
        if after is not None:
            if after.remaining is not None:
                after.remaining -= 1
                if after.remaining <= 0:
                    self._after_failures.remove(after)
            # Done, but the answer is lost: close the socket instead of writing the response.
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.latency:
            await asyncio.sleep(self.latency)
        api = _API_PATH.match(request.path)
        sub = api["sub"] if api else ""
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(request.query_string, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        self.calls.append(JiraCall(request.method, request.path, sub, query, payload))

        failure = self._take_failure(f"{request.method} {sub if api else request.path}")
        if failure is not None:
            response = await self._apply_failure(request, failure)
            if response is not None:
                return response

        if not self._authorized(request):
            # What Jira Cloud answers to bad basic-auth credentials.
            return _error_response(
                401,
                ["You are not authenticated. Authentication required to perform this operation."],
                {},
                {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED", "WWW-Authenticate": 'Basic realm="Jira"'},
            )

        if api is None:
            return self._outside_rest_api(request)

        try:
            if self.check_contract:
                validate_jira_request(
                    request.method, request.path, request.headers, raw, request.query_string
                )
        except ContractViolation as e:
            self.violations.append(e.reason)
            return _error_response(400, [e.reason], {})
        if isinstance(payload, str):
            return _error_response(400, ["Unexpected character: the request body is not JSON."], {})

        route = next(
            ((handler, match) for method, pattern, handler in self._routes
             if method == request.method and (match := pattern.fullmatch(sub))),
            None,
        )  # fmt: skip
        if route is None:
            self.unhandled.append(f"{request.method} {request.path}")
            return _error_response(404, [f"FakeJira does not implement {request.method} {request.path}"], {})
        handler, match = route
        ctx = _Request(request.method, api["version"], sub, query, payload, match)
        try:
            status, body = handler(ctx)
        except JiraError as e:
            if e.status == 400:
                self.rejections.append(f"{request.method} {request.path}: {e.messages} {e.errors}")
            return _error_response(e.status, e.messages, e.errors)
        try:
            if self.check_contract:
                validate_jira_response(request.method, request.path, status, body, request.query_string)
        except ContractViolation as e:
            self.response_violations.append(e.reason)
        if failure is not None and failure.answer_lost:
            if request.transport is not None:
                request.transport.close()  # carried out; the answer never arrives
            return web.Response(status=499)
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    def _outside_rest_api(self, request: web.Request) -> web.Response:
        # The `jira` package's add_remote_link() lists application links first (a non-REST-API
        # path, not in the contract). An empty list is what a site without app links answers.
        if request.method == "GET" and request.path.startswith("/rest/applinks/"):
            return web.json_response({"list": []})
        self.unhandled.append(f"{request.method} {request.path}")
        return _error_response(404, [f"FakeJira does not implement {request.method} {request.path}"], {})

    # ------------------------------------------------------------------ rendering helpers

    def _now(self) -> str:
        moment = datetime.datetime(2024, 1, 1, 9, 0, tzinfo=datetime.UTC) + datetime.timedelta(
            seconds=next(self._clock)
        )
        return _jira_time(moment)

    def _api(self, version: str, tail: str) -> str:
        return f"{self.base_url}/rest/api/{version}/{tail}"

    def _user(self, version: str, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        user = self.users.get(account_id, {"accountId": account_id, "displayName": account_id, "email": ""})
        shown: dict[str, Any] = {
            "self": self._api(version, f"user?accountId={account_id}"),
            "accountId": account_id,
            "displayName": user["displayName"],
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": "atlassian",
            "avatarUrls": _avatar_urls(f"{self.base_url}/avatars/{account_id}"),
        }
        if user.get("email"):
            shown["emailAddress"] = user["email"]
        return shown

    def _status(self, version: str, name: str) -> dict[str, Any]:
        status_id, category_key, category_id, colour = _STATUSES[name]
        return {
            "self": self._api(version, f"status/{status_id}"),
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": self._api(version, f"statuscategory/{category_id}"),
                "id": category_id,
                "key": category_key,
                "colorName": colour,
                "name": _CATEGORY_NAMES[category_key],
            },
        }

    def _issue_type(self, version: str, name: str) -> dict[str, Any]:
        type_id, _, description = next(t for t in self.issue_types if t[1] == name)
        return {
            "self": self._api(version, f"issuetype/{type_id}"),
            "id": type_id,
            "description": description,
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/{name.lower()}.svg",
            "name": name,
            "subtask": name in self.subtask_types,
            "avatarId": 10300 + int(type_id) % 100,
            "hierarchyLevel": 0,
        }

    def _priority(self, version: str, name: str) -> dict[str, Any]:
        priority_id, _, colour = next(p for p in self.priorities if p[1] == name)
        return {
            "self": self._api(version, f"priority/{priority_id}"),
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": priority_id,
            "statusColor": colour,
            "description": name,
            "isDefault": name == _DEFAULT_PRIORITY,
        }

    def _resolution(self, version: str, name: str) -> dict[str, Any]:
        resolution_id, description = _RESOLUTIONS[name]
        return {
            "self": self._api(version, f"resolution/{resolution_id}"),
            "id": resolution_id,
            "description": description,
            "name": name,
        }

    def _version(self, api_version: str, project: Project, version: dict[str, Any]) -> dict[str, Any]:
        shown = {
            "self": self._api(api_version, f"version/{version['id']}"),
            "id": version["id"],
            "description": version.get("description", ""),
            "name": version["name"],
            "archived": version["archived"],
            "released": version["released"],
            "projectId": int(project.id),
        }
        if version.get("releaseDate"):
            day = datetime.date.fromisoformat(version["releaseDate"])
            shown["releaseDate"] = version["releaseDate"]
            shown["userReleaseDate"] = f"{day.day}/{day:%b/%y}"  # how Jira shows it: 24/Nov/26
            if not version["released"]:
                shown["overdue"] = day < datetime.datetime.now(datetime.UTC).date()
        return shown

    def _project_ref(self, version: str, project: Project) -> dict[str, Any]:
        return {
            "self": self._api(version, f"project/{project.id}"),
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": _avatar_urls(f"{self.base_url}/avatars/project/{project.id}"),
        }

    def _comment(self, version: str, issue: dict[str, Any], comment: dict[str, Any]) -> dict[str, Any]:
        shown = {
            "self": self._api(version, f"issue/{issue['id']}/comment/{comment['id']}"),
            "id": comment["id"],
            "author": self._user(version, comment["author"]),
            "body": _render_text(version, comment["body"]),
            "updateAuthor": self._user(version, comment["author"]),
            "created": comment["created"],
            "updated": comment["updated"],
            "jsdPublic": True,
        }
        if comment.get("visibility"):
            shown["visibility"] = comment["visibility"]
        return shown

    def _render_issue(self, version: str, issue: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
        f = issue["fields"]
        project = self.projects[issue["project"]]
        resolution = self._resolution(version, f["resolution"]) if f.get("resolution") else None
        all_fields: dict[str, Any] = {
            "summary": f["summary"],
            "description": _render_text(version, f.get("description")),
            "issuetype": self._issue_type(version, f["issuetype"]),
            "project": self._project_ref(version, project),
            "priority": self._priority(version, f["priority"]),
            "labels": list(f.get("labels", [])),
            "status": self._status(version, f["status"]),
            "assignee": self._user(version, f.get("assignee")),
            "reporter": self._user(version, f.get("reporter")),
            "creator": self._user(version, f.get("reporter")),
            "created": f["created"],
            "updated": f["updated"],
            "resolution": resolution,
            "resolutiondate": f.get("resolutiondate"),
            "duedate": f.get("duedate"),
            "fixVersions": [
                self._version(version, project, v)
                for name in f.get("fixVersions", [])
                if (v := project.version(name)) is not None
            ],
            "issuelinks": [],
            "comment": {
                "comments": [self._comment(version, issue, c) for c in issue["comments"]],
                "self": self._api(version, f"issue/{issue['id']}/comment"),
                "maxResults": len(issue["comments"]),
                "total": len(issue["comments"]),
                "startAt": 0,
            },
        }
        for field_id in self.custom_fields:
            value = f.get(field_id)
            all_fields[field_id] = _render_text(version, value) if isinstance(value, dict | str) else value
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue["id"],
            "self": self._api(version, f"issue/{issue['id']}"),
            "key": issue["key"],
            "fields": _select_fields(all_fields, wanted),
        }

    # ------------------------------------------------------------------ issue store

    def _find_issue(self, ref: str) -> dict[str, Any]:
        issue = self.issues.get(ref.upper())
        if issue is None:
            issue = next((i for i in self.issues.values() if i["id"] == ref), None)
        if issue is None:
            raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
        return issue

    def _store_issue(self, project: Project, fields: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        stored = {
            "status": "To Do",
            "issuetype": "Task",
            "priority": _DEFAULT_PRIORITY,
            "labels": [],
            "reporter": self.account_id,
            "assignee": None,
            "created": now,
            "updated": now,
            **fields,
        }
        if stored["status"] == "Done":
            stored.setdefault("resolution", "Done")
            stored.setdefault("resolutiondate", now)
        issue: dict[str, Any] = {
            "id": str(next(self._ids)),
            "key": f"{project.key}-{next(project.counter)}",
            "project": project.key,
            "fields": stored,
            "comments": [],
            "remotelinks": [],
            "changelog": [],  # [{"id", "author", "created", "items": [changelog items]}]
        }
        self.issues[issue["key"]] = issue
        return issue

    def _check_text(self, version: str, name: str, value: Any, errors: dict[str, str]) -> None:
        # REST v2 takes wiki-markup strings; v3 takes Atlassian Document Format documents.
        if value is None:
            return
        if version == "3" and not (isinstance(value, dict) and value.get("type") == "doc"):
            errors[name] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        elif version != "3" and not isinstance(value, str):
            errors[name] = "Operation value must be a string"

    def _resolve_named(
        self, value: Any, choices: list[tuple[str, str, str]], field_name: str, errors: dict[str, str]
    ) -> str | None:
        """``{"id": ...}`` or ``{"name": ...}`` (or a bare string) -> the choice's name."""
        ref = value if isinstance(value, dict) else {"name": value}
        for choice_id, name, _ in choices:
            if str(ref.get("id", "")) == choice_id or ref.get("name") == name:
                return name
        errors[field_name] = f"Specify a valid '{field_name}' id or name"
        return None

    def _apply_fields(
        self,
        version: str,
        fields: dict[str, Any],
        errors: dict[str, str],
        *,
        creating: bool,
        project: Project | None = None,
    ) -> dict[str, Any]:
        """Validate create/edit `fields` the way Jira does; return them in stored form."""
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if name not in _SETTABLE_SYSTEM_FIELDS and name not in self.custom_fields:
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                )
            elif name == "summary":
                if not isinstance(value, str) or not value.strip():
                    errors["summary"] = "You must specify a summary of the issue."
                elif len(value) > 255:
                    errors["summary"] = "Summary must be less than 255 characters."
                elif "\n" in value:
                    errors["summary"] = "The summary is invalid because it contains newline characters."
                else:
                    out["summary"] = value
            elif name == "description":
                self._check_text(version, "description", value, errors)
                out["description"] = value
            elif name == "issuetype":
                out["issuetype"] = self._resolve_named(value, self.issue_types, "issuetype", errors)
                if creating and project is not None and out["issuetype"] not in (None, *project.issue_types):
                    errors["issuetype"] = "The issue type selected is invalid."
            elif name == "priority":
                priorities = [(p[0], p[1], "") for p in self.priorities]
                out["priority"] = self._resolve_named(value, priorities, "priority", errors)
            elif name == "labels":
                if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                    errors["labels"] = "The labels field must be an array of strings."
                elif bad := [x for x in value if not x or " " in x or len(x) > 255]:
                    errors["labels"] = f"The label '{bad[0]}' contains spaces which is invalid."
                else:
                    out["labels"] = list(dict.fromkeys(value))
            elif name in ("assignee", "reporter"):
                account = value.get("accountId") if isinstance(value, dict) else None
                if value is not None and account not in self.users:
                    errors[name] = f"Specified user does not exist or you do not have permission: {value}"
                else:
                    out[name] = account
            elif name == "fixVersions":
                names = self._version_names(project, value, errors)
                if names is not None:
                    out["fixVersions"] = names
            elif name == "project":
                if not creating:
                    errors["project"] = "Field 'project' cannot be set. It is not on the appropriate screen."
            else:
                out[name] = value
        if creating:
            if "summary" not in fields and "summary" not in errors:
                errors["summary"] = "You must specify a summary of the issue."
            if "issuetype" not in fields:
                errors["issuetype"] = "Specify an issue type"
        return out

    def _version_names(self, project: Project | None, value: Any, errors: dict[str, str]) -> list[str] | None:
        """``[{"name": "2.4"}, {"id": "10010"}]`` -> version names, as Jira validates them."""
        if not isinstance(value, list):
            errors["fixVersions"] = "Operation value must be an array"
            return None
        names = []
        for ref in value:
            found = project.version(ref) if project is not None else None
            if found is None:
                errors["fixVersions"] = f"Version name '{_ref_text(ref)}' is not valid"
                return None
            names.append(found["name"])
        return list(dict.fromkeys(names))

    def _project_from(self, value: Any) -> Project | None:
        if isinstance(value, dict):
            for project in self.projects.values():
                if str(value.get("id", "")) == project.id or str(value.get("key", "")).upper() == project.key:
                    return project
        return None

    # ------------------------------------------------------------------ endpoints

    def _server_info(self, req: _Request) -> tuple[int, Any]:
        return 200, {
            "baseUrl": self.base_url,
            "displayUrl": self.base_url,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": self.deployment_type,
            "buildNumber": 100280,
            "buildDate": "2024-01-01T00:00:00.000+0000",
            "serverTime": self._now(),
            "scmInfo": "0000000000000000000000000000000000000000",
            "serverTitle": "Jira",
            "serverTimeZone": "Etc/UTC",
        }

    def _myself(self, req: _Request) -> tuple[int, Any]:
        user = self._user(req.version, self.account_id) or {}
        return 200, {
            **user,
            "locale": "en_US",
            "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }

    def _fields(self, req: _Request) -> tuple[int, Any]:
        fields = [
            {
                "id": field_id,
                "key": field_id,
                "name": name,
                "custom": False,
                "orderable": field_id not in ("created", "updated", "status", "creator", "resolutiondate"),
                "navigable": True,
                "searchable": True,
                "clauseNames": clauses,
                "schema": {"type": schema_type, "system": field_id},
            }
            for field_id, name, clauses, schema_type in _SYSTEM_FIELDS
        ]
        for field_id, info in self.custom_fields.items():
            number = field_id.removeprefix("customfield_")
            fields.append(
                {
                    "id": field_id,
                    "key": field_id,
                    "name": info["name"],
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{number}]", info["name"]],
                    "schema": {
                        "type": info["type"],
                        "custom": "fake:" + info["type"],
                        "customId": int(number),
                    },
                }
            )
        return 200, fields

    def _issue_types(self, req: _Request) -> tuple[int, Any]:
        return 200, [self._issue_type(req.version, name) for _, name, _ in self.issue_types]

    def _priorities(self, req: _Request) -> tuple[int, Any]:
        return 200, [self._priority(req.version, name) for _, name, _ in self.priorities]

    def _statuses(self, req: _Request) -> tuple[int, Any]:
        return 200, [self._status(req.version, name) for name in _STATUSES]

    def _project_details(self, version: str, project: Project) -> dict[str, Any]:
        return {
            **self._project_ref(version, project),
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "description": "",
            "lead": self._user(version, self.account_id),
            "components": [],
            "issueTypes": [self._issue_type(version, name) for name in project.issue_types],
            "assigneeType": "UNASSIGNED",
            "versions": [self._version(version, project, v) for v in project.versions],
            "roles": {},
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }

    def _project_list(self, req: _Request) -> tuple[int, Any]:
        return 200, [self._project_details(req.version, p) for p in self.projects.values()]

    def _find_project(self, ref: str) -> Project:
        for project in self.projects.values():
            if ref.upper() == project.key or ref == project.id:
                return project
        raise JiraError(404, [f"No project could be found with key '{ref}'."])

    def _project(self, req: _Request) -> tuple[int, Any]:
        return 200, self._project_details(req.version, self._find_project(req.match["project"]))

    def _createmeta_issue_types(self, req: _Request) -> tuple[int, Any]:
        """The issue types one can create in a project, a page at a time (Jira Cloud caps a page at 200)."""
        project = self._find_project(req.match["project"])
        try:
            start = int(req.param("startAt") or 0)
            size = min(int(req.param("maxResults") or 50), 200)
        except ValueError:
            raise JiraError(400, ["startAt and maxResults must be numbers."]) from None
        names = project.issue_types
        return 200, {
            "issueTypes": [self._issue_type(req.version, name) for name in names[start : start + size]],
            "maxResults": size,
            "startAt": start,
            "total": len(names),
        }

    def _create_issue(self, req: _Request) -> tuple[int, Any]:
        fields = (req.body or {}).get("fields") or {}
        errors: dict[str, str] = {}
        project = self._project_from(fields.get("project"))
        if project is None:
            errors["project"] = "valid project is required"
        stored = self._apply_fields(req.version, fields, errors, creating=True, project=project)
        if errors or project is None:
            raise JiraError(400, [], errors)
        stored.pop("project", None)
        issue = self._store_issue(project, {k: v for k, v in stored.items() if v is not None})
        return 201, {
            "id": issue["id"],
            "key": issue["key"],
            "self": self._api(req.version, f"issue/{issue['id']}"),
        }

    def _get_issue(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        wanted = req.params("fields") or None
        return 200, self._render_issue(req.version, issue, wanted)

    def _edit_issue(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        body = req.body or {}
        errors: dict[str, str] = {}
        project = self.projects[issue["project"]]
        changes = self._apply_fields(
            req.version, body.get("fields") or {}, errors, creating=False, project=project
        )
        labels = list(changes.get("labels", issue["fields"].get("labels", [])))
        fix_versions = list(changes.pop("fixVersions", issue["fields"].get("fixVersions", [])))
        comments: list[Any] = []
        for name, operations in (body.get("update") or {}).items():
            for operation in operations:
                for verb, value in operation.items():
                    if name == "labels" and verb in ("add", "remove", "set"):
                        if verb == "add" and value not in labels:
                            labels.append(value)
                        elif verb == "remove" and value in labels:
                            labels.remove(value)
                        elif verb == "set":
                            labels = list(value)
                    elif name == "fixVersions" and verb in ("add", "remove", "set"):
                        refs = value if verb == "set" else [value]
                        names = self._version_names(project, refs, errors) or []
                        if verb == "set":
                            fix_versions = names
                        elif verb == "add":
                            fix_versions += [n for n in names if n not in fix_versions]
                        else:
                            fix_versions = [n for n in fix_versions if n not in names]
                    elif name == "comment" and verb == "add":
                        self._check_text(req.version, "comment", value.get("body"), errors)
                        comments.append(value.get("body"))
                    elif name in ("summary", "description", "priority") and verb == "set":
                        changes.update(self._apply_fields(req.version, {name: value}, errors, creating=False))
                    else:
                        errors[name] = f"Field '{name}' does not support update operation '{verb}'."
        if errors:
            raise JiraError(400, [], errors)
        items = []
        if "assignee" in changes and changes["assignee"] != issue["fields"].get("assignee"):
            items.append(self._assignee_change(issue, changes["assignee"]))
        items.extend(self._fix_version_changes(issue, fix_versions))
        issue["fields"].update(changes)
        issue["fields"]["labels"] = labels
        self._record_change(issue, items, self.account_id)
        for comment_body in comments:
            self._new_comment(issue, comment_body, None)
        issue["fields"]["updated"] = self._now()
        if (req.param("returnIssue") or "").lower() == "true":
            return 200, self._render_issue(req.version, issue, None)
        return 204, None

    def _delete_issue(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        self.delete_issue(issue["key"])
        return 204, None

    def _project_versions(self, req: _Request) -> tuple[int, Any]:
        ref = req.match["project"]
        for project in self.projects.values():
            if ref.upper() == project.key or ref == project.id:
                return 200, [self._version(req.version, project, v) for v in project.versions]
        raise JiraError(404, [f"No project could be found with key '{ref}'."])

    def _resolutions(self, req: _Request) -> tuple[int, Any]:
        return 200, [self._resolution(req.version, name) for name in _RESOLUTIONS]

    # -- changes, as Jira's changelog (and so its webhooks) describes them

    def _human(self) -> str:
        """The person who changes issues in tests unless told otherwise (created on first use)."""
        if self._default_actor is None:
            self._default_actor = self.add_user("Jamie Engineer", "jamie@example.com")
        return self._default_actor

    def _epoch_ms(self) -> int:
        moment = datetime.datetime(2024, 1, 1, 9, 0, tzinfo=datetime.UTC) + datetime.timedelta(
            seconds=next(self._clock)
        )
        return int(moment.timestamp() * 1000)

    def _record_change(self, issue: dict[str, Any], items: list[dict[str, Any]], by: str | None) -> None:
        if not items:
            return
        now = self._now()
        issue["fields"]["updated"] = now
        history = {"id": str(next(self._changelog_ids)), "author": by or self._human(), "created": now}
        issue["changelog"].append({**history, "items": items})

    @staticmethod
    def _item(field_name: str, field_id: str, old: tuple[Any, Any], new: tuple[Any, Any]) -> dict[str, Any]:
        return {
            "field": field_name,
            "fieldtype": "jira",
            "fieldId": field_id,
            "from": old[0],
            "fromString": old[1],
            "to": new[0],
            "toString": new[1],
        }

    def _status_change(self, issue: dict[str, Any], status: str) -> dict[str, Any]:
        old = issue["fields"]["status"]
        issue["fields"]["status"] = status
        return self._item("status", "status", (_STATUSES[old][0], old), (_STATUSES[status][0], status))

    def _resolution_change(self, issue: dict[str, Any], resolution: str | None) -> list[dict[str, Any]]:
        f = issue["fields"]
        old = f.get("resolution")
        f["resolution"] = resolution
        f["resolutiondate"] = self._now() if resolution else None
        if old == resolution:
            return []

        def ref(name: str | None) -> tuple[Any, Any]:
            return (_RESOLUTIONS[name][0], name) if name else (None, None)

        return [self._item("resolution", "resolution", ref(old), ref(resolution))]

    def _assignee_change(self, issue: dict[str, Any], account_id: str | None) -> dict[str, Any]:
        old = issue["fields"].get("assignee")
        issue["fields"]["assignee"] = account_id

        def ref(account: str | None) -> tuple[Any, Any]:
            return (account, self.users[account]["displayName"]) if account else (None, None)

        return self._item("assignee", "assignee", ref(old), ref(account_id))

    def _fix_version_changes(self, issue: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
        project = self.projects[issue["project"]]
        old = list(issue["fields"].get("fixVersions", []))
        issue["fields"]["fixVersions"] = list(names)

        def ref(name: str) -> tuple[Any, Any]:
            version = project.version(name)
            return (version["id"] if version else None, name)

        # Jira writes one item per version added or removed.
        return [
            self._item("Fix Version", "fixVersions", (None, None), ref(n)) for n in names if n not in old
        ] + [self._item("Fix Version", "fixVersions", ref(n), (None, None)) for n in old if n not in names]

    def _change_item(
        self, issue: dict[str, Any], field_name: str, old: str | None, new: str | None
    ) -> dict[str, Any]:
        """A changelog item for ``webhook_payload(changes=...)``; ids looked up where the fake has them."""
        project = self.projects.get(issue["project"])

        def lookup(value: str | None) -> Any:
            if value is None:
                return None
            if field_name == "status" and value in _STATUSES:
                return _STATUSES[value][0]
            if field_name == "resolution" and value in _RESOLUTIONS:
                return _RESOLUTIONS[value][0]
            if field_name == "assignee":
                return next((a for a, u in self.users.items() if u["displayName"] == value), None)
            if field_name in ("Fix Version", "fixVersions") and project and (v := project.version(value)):
                return v["id"]
            return None

        field_ids = {"Fix Version": "fixVersions", "Fix Versions": "fixVersions"}
        return self._item(
            field_name, field_ids.get(field_name, field_name), (lookup(old), old), (lookup(new), new)
        )

    def _new_comment(self, issue: dict[str, Any], body: Any, visibility: Any) -> dict[str, Any]:
        now = self._now()
        comment = {
            "id": str(next(self._ids)),
            "body": body,
            "author": self.account_id,
            "created": now,
            "updated": now,
            "visibility": visibility,
        }
        issue["comments"].append(comment)
        issue["fields"]["updated"] = now
        return comment

    def _get_comments(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        start = int(req.param("startAt") or 0)
        limit = int(req.param("maxResults") or 100)
        comments = issue["comments"]
        if (req.param("orderBy") or "").startswith("-"):
            comments = list(reversed(comments))
        page = comments[start : start + limit]
        return 200, {
            "startAt": start,
            "maxResults": limit,
            "total": len(comments),
            "comments": [self._comment(req.version, issue, c) for c in page],
        }

    def _add_comment(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        body = req.body or {}
        errors: dict[str, str] = {}
        if body.get("body") in (None, ""):
            errors["comment"] = "Comment body can not be empty!"
        else:
            self._check_text(req.version, "comment", body["body"], errors)
        if errors:
            raise JiraError(400, [], errors)
        comment = self._new_comment(issue, body["body"], body.get("visibility"))
        return 201, self._comment(req.version, issue, comment)

    def _remote_link(self, version: str, issue: dict[str, Any], link: dict[str, Any]) -> dict[str, Any]:
        return {"self": self._api(version, f"issue/{issue['key']}/remotelink/{link['id']}"), **link}

    def _get_remote_links(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        global_id = req.param("globalId")
        if global_id is not None:
            for link in issue["remotelinks"]:
                if link.get("globalId") == global_id:
                    return 200, self._remote_link(req.version, issue, link)
            raise JiraError(404, ["No remote link with the given globalId was found."])
        return 200, [self._remote_link(req.version, issue, link) for link in issue["remotelinks"]]

    def _add_remote_link(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        body = dict(req.body or {})
        link: dict[str, Any] = {
            k: body[k] for k in ("globalId", "application", "relationship", "object") if k in body
        }
        existing = next(
            (
                x
                for x in issue["remotelinks"]
                if body.get("globalId") and x.get("globalId") == body["globalId"]
            ),
            None,
        )
        if existing is not None:
            # Jira updates the link with the same globalId instead of adding a second one.
            existing.update(link)
            return 200, {
                "id": existing["id"],
                "self": self._api(req.version, f"issue/{issue['key']}/remotelink/{existing['id']}"),
            }
        link = {"id": next(self._remote_link_ids), **link}
        issue["remotelinks"].append(link)
        issue["fields"]["updated"] = self._now()
        return 201, {
            "id": link["id"],
            "self": self._api(req.version, f"issue/{issue['key']}/remotelink/{link['id']}"),
        }

    def _available_transitions(self, issue: dict[str, Any]) -> list[tuple[str, str]]:
        return [(tid, to) for tid, to in _TRANSITIONS if to != issue["fields"]["status"]]

    def _get_transitions(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        wanted = req.param("transitionId")
        transitions = []
        for transition_id, to in self._available_transitions(issue):
            if wanted is not None and wanted != transition_id:
                continue
            transition: dict[str, Any] = {
                "id": transition_id,
                "name": to,
                "to": self._status(req.version, to),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            if "transitions.fields" in (req.param("expand") or ""):
                transition["fields"] = {}
            transitions.append(transition)
        return 200, {"expand": "transitions", "transitions": transitions}

    def _do_transition(self, req: _Request) -> tuple[int, Any]:
        issue = self._find_issue(req.match["issue"])
        body = req.body or {}
        # str(): the `jira` package sends the id as an integer (see contracts.py)
        transition_id = str((body.get("transition") or {}).get("id", ""))
        target = dict(self._available_transitions(issue)).get(transition_id)
        if target is None:
            raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
        errors: dict[str, str] = {}
        fields = dict(body.get("fields") or {})
        resolution_ref = fields.pop("resolution", None)
        resolution = None
        if target == "Done":
            resolution = "Done"
            if resolution_ref is not None:
                choices = [(rid, name, "") for name, (rid, _) in _RESOLUTIONS.items()]
                resolution = self._resolve_named(resolution_ref, choices, "resolution", errors)
        elif resolution_ref is not None:
            errors["resolution"] = "Field 'resolution' cannot be set. It is not on the appropriate screen."
        project = self.projects[issue["project"]]
        changes = self._apply_fields(req.version, fields, errors, creating=False, project=project)
        comment_bodies = []
        for operation in (body.get("update") or {}).get("comment", []):
            if "add" in operation:
                self._check_text(req.version, "comment", operation["add"].get("body"), errors)
                comment_bodies.append(operation["add"].get("body"))
        if errors:
            raise JiraError(400, [], errors)
        items = [self._status_change(issue, target), *self._resolution_change(issue, resolution)]
        if "assignee" in changes and changes["assignee"] != issue["fields"].get("assignee"):
            items.append(self._assignee_change(issue, changes.pop("assignee")))
        if "fixVersions" in changes:
            items.extend(self._fix_version_changes(issue, changes.pop("fixVersions")))
        issue["fields"].update(changes)
        self._record_change(issue, items, self.account_id)
        for comment_body in comment_bodies:
            self._new_comment(issue, comment_body, None)
        issue["fields"]["updated"] = self._now()
        return 204, None

    # -- search

    def _run_jql(self, jql: str, *, bounded: bool) -> list[dict[str, Any]]:
        try:
            where, order = _parse_jql(jql, self)
        except _JqlError as e:
            raise JiraError(400, [f"Error in the JQL Query: {e}"]) from None
        if bounded and where is None:
            message = (
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
            )
            raise JiraError(400, [message])
        issues = [i for i in self.issues.values() if where is None or where(i)]
        for key, descending in reversed(order or [("created", True)]):
            issues.sort(key=functools.partial(_sort_key, key=key), reverse=descending)
        return issues

    def _search_legacy(self, req: _Request) -> tuple[int, Any]:
        # Deprecated by Atlassian ("being removed"); the `jira` package uses search/jql on Cloud.
        body = req.body or {}
        jql = body.get("jql", req.param("jql") or "")
        start = int(body.get("startAt", req.param("startAt") or 0))
        limit = int(body.get("maxResults", req.param("maxResults") or 50))
        wanted = body.get("fields") or req.params("fields") or ["*navigable"]
        issues = self._run_jql(jql, bounded=False)
        page = issues[start : start + limit]
        return 200, {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(issues),
            "issues": [self._render_issue(req.version, i, wanted) for i in page],
        }

    def _search_jql(self, req: _Request) -> tuple[int, Any]:
        body = req.body or {}
        jql = body.get("jql", req.param("jql") or "")
        limit = int(body.get("maxResults", req.param("maxResults") or 50))
        token = body.get("nextPageToken", req.param("nextPageToken"))
        # Enhanced search returns only the issue id unless fields are asked for.
        wanted = body.get("fields") or req.params("fields") or ["id"]
        offset = 0
        if token:
            try:
                offset = int(base64.b64decode(token).decode().removeprefix("offset:"))
            except (ValueError, binascii.Error):
                raise JiraError(400, ["The provided next page token is invalid or expired."]) from None
        issues = self._run_jql(jql, bounded=True)
        page = issues[offset : offset + limit]
        result: dict[str, Any] = {
            "issues": [self._render_issue(req.version, i, wanted) for i in page],
            "isLast": offset + limit >= len(issues),
        }
        if not result["isLast"]:
            result["nextPageToken"] = base64.b64encode(f"offset:{offset + limit}".encode()).decode()
        return 200, result


# --------------------------------------------------------------------------- helpers


def _error_response(
    status: int, messages: list[str], errors: dict[str, str], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"errorMessages": messages, "errors": errors}, status=status, headers=headers)


def _jira_time(moment: datetime.datetime) -> str:
    """Jira's timestamp format: 2024-01-01T09:00:00.000+0000 (no colon in the offset)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


def _avatar_urls(base: str) -> dict[str, str]:
    return {size: f"{base}?s={size.split('x')[0]}" for size in ("48x48", "24x24", "16x16", "32x32")}


def _select_fields(fields: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    if not wanted:
        return fields
    include_all = any(w in ("*all", "*navigable") for w in wanted)
    excluded = {w[1:] for w in wanted if w.startswith("-")}
    chosen = {k: v for k, v in fields.items() if include_all or k in wanted}
    if "*navigable" in wanted and "*all" not in wanted:
        chosen.pop("comment", None)
    return {k: v for k, v in chosen.items() if k not in excluded}


def _to_adf(text: str) -> dict[str, Any]:
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} if line else {"type": "paragraph"}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _adf_to_text(node: Any) -> str:
    if isinstance(node, list):
        return "".join(_adf_to_text(n) for n in node)
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    inner = _adf_to_text(node.get("content", []))
    if node.get("type") == "doc":
        return "\n".join(_adf_to_text(block) for block in node.get("content", []))
    return inner


def _render_text(version: str, value: Any) -> Any:
    """A rich-text value as REST v2 (wiki string) or v3 (ADF document) shows it."""
    if value is None:
        return None
    if version == "3":
        return value if isinstance(value, dict) else _to_adf(str(value))
    return _adf_to_text(value) if isinstance(value, dict) else value


def _ref_text(ref: Any) -> str:
    if isinstance(ref, dict):
        return str(ref.get("name", ref.get("id", "")))
    return str(ref)


def _plain(value: Any) -> str:
    return _adf_to_text(value) if isinstance(value, dict) else str(value or "")


def _sort_key(issue: dict[str, Any], key: str) -> Any:
    f = issue["fields"]
    if key in ("key", "issuekey", "id"):
        return (issue["project"], int(issue["key"].rsplit("-", 1)[1]))
    if key == "priority":
        # Priority ids of the site's defaults rank them; one added later (add_priority) ranks lowest.
        return -int(next((p[0] for p in _PRIORITIES if p[1] == f["priority"]), "99"))
    if key in ("created", "updated", "resolutiondate", "resolved"):
        return (str(f.get(key) or ""), int(issue["id"]))
    return str(f.get(key) or "").lower()


# --------------------------------------------------------------------------- a small JQL subset

Predicate = Callable[[dict[str, Any]], bool]


class _JqlError(Exception):
    """A JQL query this fake cannot parse; answered as Jira answers bad JQL (400)."""


_JQL_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|>=|<=|=|~|>|<)
      | (?P<punct>[(),])
      | (?P<word>[^\s()=!~<>,"']+(?:\(\))?)
    )""",
    re.VERBOSE,
)
_TEXT_FIELDS = {"summary", "description", "comment", "text"}


def _tokens(jql: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    jql = jql.strip()
    while pos < len(jql):
        match = _JQL_TOKEN.match(jql, pos)
        if not match or match.end() == pos:
            raise _JqlError(f"unexpected character at position {pos}: {jql[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = match.end()
        while pos < len(jql) and jql[pos].isspace():
            pos += 1
    return tokens


_JQL_ALIASES = {"type": "issuetype", "issuekey": "key", "id": "key"}
_JQL_FIELDS = {
    "project", "labels", "status", "statuscategory", "issuetype", "priority", "key",
    "resolution", "assignee", "reporter", "creator", "fixversion",
}  # fmt: skip


def _custom_field_id(name: str, fake: FakeJira) -> str | None:
    """``customfield_10010``, ``cf[10010]`` or the field's name -> its id."""
    key = name.lower()
    custom = re.fullmatch(r"cf\[(\d+)\]", key)
    field_id = f"customfield_{custom[1]}" if custom else key
    if field_id in fake.custom_fields:
        return field_id
    return next((k for k, info in fake.custom_fields.items() if info["name"].lower() == key), None)


def _is_jql_field(name: str, fake: FakeJira) -> bool:
    key = _JQL_ALIASES.get(name.lower(), name.lower())
    return key in _JQL_FIELDS or _custom_field_id(name, fake) is not None


def _field_values(issue: dict[str, Any], name: str, fake: FakeJira) -> list[str] | None:
    """Lower-cased values an issue has for a JQL field (None: unknown field)."""
    f = issue["fields"]
    project = fake.projects[issue["project"]]
    named = {
        "project": [project.key, project.id, project.name],
        "labels": list(f.get("labels", [])),
        "status": [f["status"], _STATUSES[f["status"]][0]],
        "statuscategory": [_CATEGORY_NAMES[_STATUSES[f["status"]][1]], _STATUSES[f["status"]][1]],
        "issuetype": [f["issuetype"], next(t[0] for t in fake.issue_types if t[1] == f["issuetype"])],
        "priority": [f["priority"], next(p[0] for p in fake.priorities if p[1] == f["priority"])],
        "key": [issue["key"], issue["id"]],
        "resolution": [f["resolution"]] if f.get("resolution") else [],
        "fixversion": [
            x
            for name in f.get("fixVersions", [])
            if (v := project.version(name))
            for x in (v["name"], v["id"])
        ],
    }
    key = _JQL_ALIASES.get(name.lower(), name.lower())
    if key in named:
        return [str(v).lower() for v in named[key]]
    if key in ("assignee", "reporter", "creator"):
        account = f.get("reporter" if key == "creator" else key)
        if account is None:
            return []
        user = fake.users.get(account, {})
        return [v.lower() for v in (account, user.get("displayName", ""), user.get("email", "")) if v]
    field_id = _custom_field_id(name, fake)
    if field_id is None:
        return None
    value = f.get(field_id)
    values = value if isinstance(value, list) else [] if value is None else [value]
    return [_plain(v).lower() for v in values]


def _text_of(issue: dict[str, Any], name: str) -> str:
    f = issue["fields"]
    parts = {
        "summary": [f["summary"]],
        "description": [_plain(f.get("description"))],
        "comment": [_plain(c["body"]) for c in issue["comments"]],
    }
    if name == "text":
        return " ".join(p for values in parts.values() for p in values).lower()
    return " ".join(parts[name]).lower()


def _parse_jql(jql: str, fake: FakeJira) -> tuple[Predicate | None, list[tuple[str, bool]]]:
    """Parse ``clause (AND|OR clause)* [ORDER BY field [ASC|DESC], ...]``.

    Clauses: ``f = v``, ``f != v``, ``f in (a, b)``, ``f not in (...)``, ``f is [not] empty``,
    ``summary|description|comment|text ~ "words"``; parentheses and NOT; ``currentUser()``.
    """
    tokens = _tokens(jql)
    pos = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return tokens[pos + offset] if pos + offset < len(tokens) else None

    def is_word(token: tuple[str, str] | None, *words: str) -> bool:
        return token is not None and token[0] == "word" and token[1].upper() in words

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise _JqlError("the query ends unexpectedly")
        pos += 1
        return tokens[pos - 1]

    def value() -> str:
        kind, text = take()
        if kind not in ("str", "word"):
            raise _JqlError(f"expected a value, got {text!r}")
        if kind == "word" and text.lower() == "currentuser()":
            return fake.account_id
        return text

    def clause() -> Predicate:
        kind, name = take()
        if kind not in ("word", "str"):
            raise _JqlError(f"expected a field name, got {name!r}")
        if name.lower() in _TEXT_FIELDS:
            op = take()
            if op[1] not in ("~", "!~"):
                raise _JqlError(f"the field '{name}' only supports ~ and !~ in FakeJira")
            words = value().lower().strip("*")
            negate = op[1] == "!~"
            field_name = name.lower()
            return lambda i: (words in _text_of(i, field_name)) != negate
        if not _is_jql_field(name, fake):
            raise _JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")

        def values_of(issue: dict[str, Any]) -> list[str]:
            return _field_values(issue, name, fake) or []

        if is_word(peek(), "IS"):
            take()
            negate = is_word(peek(), "NOT")
            if negate:
                take()
            if not is_word(take(), "EMPTY", "NULL"):
                raise _JqlError("expected EMPTY after IS")
            return lambda i: bool(values_of(i)) == negate
        negate = False
        if is_word(peek(), "NOT") and is_word(peek(1), "IN"):
            take()
            negate = True
        if is_word(peek(), "IN"):
            take()
            if take() != ("punct", "("):
                raise _JqlError("expected ( after IN")
            wanted = [value().lower()]
            while peek() == ("punct", ","):
                take()
                wanted.append(value().lower())
            if take() != ("punct", ")"):
                raise _JqlError("expected ) to close the IN list")
            if negate:
                return lambda i: bool(values_of(i)) and not any(v in wanted for v in values_of(i))
            return lambda i: any(v in wanted for v in values_of(i))
        op = take()
        if op[0] != "op" or op[1] not in ("=", "!="):
            raise _JqlError(f"FakeJira supports =, !=, IN, IS and ~ only (got {op[1]!r} after '{name}')")
        if is_word(peek(), "EMPTY", "NULL"):
            take()
            return lambda i: bool(values_of(i)) == (op[1] == "!=")
        expected = value().lower()
        if op[1] == "=":
            return lambda i: expected in values_of(i)
        return lambda i: bool(values_of(i)) and expected not in values_of(i)

    def atom() -> Predicate:
        if is_word(peek(), "NOT"):
            take()
            inner = atom()
            return lambda i: not inner(i)
        if peek() == ("punct", "("):
            take()
            inner = disjunction()
            if take() != ("punct", ")"):
                raise _JqlError("expected )")
            return inner
        return clause()

    def conjunction() -> Predicate:
        parts = [atom()]
        while is_word(peek(), "AND"):
            take()
            parts.append(atom())
        return parts[0] if len(parts) == 1 else (lambda i: all(p(i) for p in parts))

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while is_word(peek(), "OR"):
            take()
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda i: any(p(i) for p in parts))

    where: Predicate | None = None
    if tokens and not is_word(peek(), "ORDER"):
        where = disjunction()
    order: list[tuple[str, bool]] = []
    if is_word(peek(), "ORDER"):
        take()
        if not is_word(take(), "BY"):
            raise _JqlError("expected BY after ORDER")
        while True:
            order.append((take()[1].lower(), False))
            if is_word(peek(), "ASC", "DESC"):
                order[-1] = (order[-1][0], take()[1].upper() == "DESC")
            if peek() != ("punct", ","):
                break
            take()
    if pos != len(tokens):
        raise _JqlError(f"unexpected {tokens[pos][1]!r}")
    return where, order
