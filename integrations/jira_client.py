"""Our interface to Jira. The `jira` package is synchronous: every call runs in one of the
gateway's worker threads, never on the event loop.

Each call is bounded by its timeout where the work happens, not only where it is awaited: every HTTP
request it makes is sent with that timeout (connect and read), so a Jira that hangs makes the request
fail and the thread return, instead of a thread left waiting behind a caller that gave up. A
``requests.Session`` is not safe to share between threads: each worker thread has its own clients.

Retries are not ours to make here. The caller goes through a durable outbox, which retries with
back-off and, before creating an issue again, searches for the dedupe label it put on the first
attempt. So the `jira` package must never re-send a request by itself: its ``ResilientSession``
retries a *POST* after a ``ConnectionError`` (and after 429/503) when ``max_retries > 0``, which
after a dropped connection would create a second issue. We build the client with
``max_retries=0`` (urllib3 underneath already defaults to no retries).

Errors come in two kinds: :class:`JiraUnavailable` (try again later) and :class:`JiraRejected`
(trying again will not help). Messages never contain credentials: we build them from the status
and Jira's own error text, never from ``str(JIRAError)``, which dumps request headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NoReturn, TypeVar
from urllib.parse import parse_qs, urlsplit

from jira import JIRA, JIRAError
from jira.resilientsession import raise_on_error
from requests import RequestException, Response, Session
from requests.exceptions import ConnectTimeout, Timeout
from urllib3.exceptions import NameResolutionError, NewConnectionError

from bot import metrics
from bot.domain.jira import JiraSnapshot, jira_time

T = TypeVar("T")
# The `operation` label of the Jira call metrics: one fixed name per public call, given by its caller.
JiraOperation = Literal[
    "server_info",
    "find_by_label",
    "create_issue",
    "get_issue",
    "add_remote_link",
    "comment_bodies",
    "add_comment",
    "project_versions",
    "project",
    "projects",
    "issue_types",
    "priorities",
]

SUMMARY_MAX = 255  # Jira rejects longer summaries
DESCRIPTION_MAX = 32_767  # Jira's limit for a text field
COMMENT_MAX = 32_767
LABEL_MAX = 255
ISSUE_FIELDS = ("summary", "status", "assignee", "resolution", "fixVersions", "labels", "updated")
# Statuses worth another attempt later: rate limits, timeouts, conflicts, server trouble.
_TRANSIENT_STATUSES = {408, 409, 423, 425, 429}

# On a Data Center site search_issues() calls the legacy /search with validateQuery=<the bool>, which
# requests writes as "True"; the documented values are strict|warn|none|true|false. Cloud ignores it.
_VALIDATE_QUERY: Any = "true"

_KEY = r"[A-Za-z][A-Za-z0-9_]+-[1-9][0-9]*"
_KEY_ONLY = re.compile(rf"^{_KEY}$")
_KEY_IN_PATH = re.compile(rf"(?:^|/)({_KEY})(?:/|$)")


class JiraError(Exception):
    """Base of the gateway's errors."""


class JiraUnavailable(JiraError):
    """Transient: Jira could not be reached, timed out, rate limited us or failed (5xx).

    ``retry_after`` is Jira's ``Retry-After`` in seconds, when it sent one. ``outcome_unknown``:
    a write (create, comment, link) was sent but its answer was lost (timeout, dropped
    connection) - Jira may have carried it out. Jira Cloud's search is eventually consistent
    (seconds, sometimes minutes), so a search straight after may not show a created issue yet.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, *, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class JiraRejected(JiraError):
    """Permanent: Jira understood and refused (bad field value, credentials, permission, no project)."""


@dataclass(frozen=True)
class JiraIssue:
    key: str
    url: str  # browse URL: f"{base}/browse/{key}"
    summary: str
    labels: tuple[str, ...]
    snapshot: JiraSnapshot


@dataclass(frozen=True)
class JiraVersion:
    """A project's version (a release in Jira's terms)."""

    id: str
    name: str
    released: bool
    archived: bool
    release_date: date | None  # Jira's releaseDate: a day, no time
    description: str | None
    project_id: str | None


@dataclass(frozen=True)
class JiraProject:
    id: str
    key: str
    name: str
    # The names of the issue types one can create in the project (its `issueTypes`).
    issue_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class JiraChoice:
    """A value a Jira field offers (an issue type, a priority): what to show and what to send."""

    id: str
    name: str


def _choices(raws: Any) -> list[JiraChoice]:
    found = []
    for raw in raws if isinstance(raws, list) else []:
        if not isinstance(raw, Mapping) or raw.get("subtask") is True:
            continue  # a sub-task type needs a parent issue: never what an escalation creates
        name, choice_id = raw.get("name"), raw.get("id")
        if isinstance(name, str) and name.strip() and isinstance(choice_id, str | int):
            found.append(JiraChoice(id=str(choice_id), name=name.strip()))
    return found


def _day(value: Any) -> date | None:
    """Jira's ``releaseDate`` (``2026-11-24``); anything else is None."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def version_from_raw(raw: Mapping[str, Any]) -> JiraVersion | None:
    """A version as Jira's REST API and its ``jira:version_*`` webhooks describe it; None without an
    id or a name."""
    version_id, name = raw.get("id"), raw.get("name")
    if not isinstance(version_id, str | int) or isinstance(version_id, bool) or str(version_id) == "":
        return None
    if not isinstance(name, str) or not name.strip():
        return None
    project_id = raw.get("projectId")
    description = raw.get("description")
    return JiraVersion(
        id=str(version_id),
        name=name.strip(),
        released=raw.get("released") is True,
        archived=raw.get("archived") is True,
        release_date=_day(raw.get("releaseDate")),
        description=(description.strip() or None) if isinstance(description, str) else None,
        project_id=str(project_id) if isinstance(project_id, str | int) and project_id != "" else None,
    )


def parse_key(text: str) -> str | None:
    """An issue key from what a person pastes: ``PROJ-12``, `` proj-12 ``, a browse URL, a board URL
    (``.../projects/PROJ/issues/PROJ-12``), ``?selectedIssue=PROJ-12``, or a Slack-formatted link
    ``<https://…/browse/PROJ-12|PROJ-12>``. Returns the upper-case key, or None."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].partition("|")[0].strip()
    if _KEY_ONLY.match(text):
        return text.upper()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    for selected in parse_qs(parts.query).get("selectedIssue", []):
        if _KEY_ONLY.match(selected.strip()):
            return selected.strip().upper()
    keys = _KEY_IN_PATH.findall(parts.path)
    return keys[-1].upper() if keys else None


def clean_summary(text: str) -> str:
    """One line (Jira refuses newlines in a summary), at most 255 characters."""
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


def clean_label(label: str) -> str:
    """Jira labels cannot hold whitespace; the same cleaning is used to create and to search."""
    return "-".join(label.split())[:LABEL_MAX]


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded_comment(body: str) -> str:
    """A comment's text as `add_comment` sends it (cut to Jira's limit)."""
    return _bounded(body, COMMENT_MAX)


def _jql_string(value: str) -> str:
    """A JQL string literal: double-quoted, with backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _maybe_sent(exc: RequestException) -> bool:
    """False when the request surely never reached Jira (no connection was made)."""
    if isinstance(exc, ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError | NameResolutionError)


def _retry_after(response: Response | None) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    with contextlib.suppress(ValueError):  # seconds; otherwise an HTTP date
        return max(0.0, float(value))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _jira_error_summary(response: Response | None) -> str:
    """``"priority: Specify a valid 'priority' id or name"`` from Jira's ``errors``/``errorMessages``.

    The `jira` package's own message drops the field names, so the body is read again here."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(m) for m in body.get("errorMessages") or [] if m]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts.extend(f"{name}: {message}" for name, message in errors.items())
    return _bounded("; ".join(parts), 500)


def _issue_from_raw(base_url: str, raw: Mapping[str, Any]) -> JiraIssue:
    fields = raw.get("fields") or {}
    status = fields.get("status") or {}
    category = status.get("statusCategory") or {}
    assignee = fields.get("assignee") or {}
    resolution = fields.get("resolution") or {}
    key = str(raw["key"])
    return JiraIssue(
        key=key,
        url=f"{base_url}/browse/{key}",
        summary=str(fields.get("summary") or ""),
        labels=tuple(str(label) for label in fields.get("labels") or []),
        snapshot=JiraSnapshot(
            status=status.get("name"),
            status_category=category.get("key"),
            assignee_name=assignee.get("displayName"),
            assignee_account_id=assignee.get("accountId"),
            assignee_email=assignee.get("emailAddress") or None,
            resolution=resolution.get("name"),
            fix_versions=tuple(str(v["name"]) for v in fields.get("fixVersions") or [] if v.get("name")),
            updated_at=jira_time(fields.get("updated")),
        ),
    )


WORKER_THREADS = 4  # Jira calls at once (outbox deliveries, a modal's check, a webhook's lookup)


@dataclass(frozen=True)
class _Connection:
    """What one worker thread talks to Jira with, for one call's timeout."""

    jira: JIRA
    http: Session  # for the one call the `jira` package makes badly (see add_remote_link)
    timeout: float


class JiraGateway:
    def __init__(
        self, url: str, email: str, api_token: str, *, timeout: float = 10, threads: int = WORKER_THREADS
    ) -> None:
        self.url = url.rstrip("/")
        self._email = email
        self._token = api_token
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jira")
        # Per worker thread: its `jira` clients by timeout (the timeout is fixed when one is built) and
        # its plain session. Nothing here is shared between threads, so nothing needs a lock.
        self._local = threading.local()

    def _connect(self, timeout: float) -> _Connection:
        local = self._local
        if not hasattr(local, "clients"):
            local.clients = {}
            local.http = Session()
            local.http.auth = (self._email, self._token)
            local.http.headers.update({"Accept": "application/json"})
        clients: dict[float, JIRA] = local.clients
        if timeout not in clients:
            clients[timeout] = JIRA(
                server=self.url,
                basic_auth=(self._email, self._token),
                timeout=timeout,
                # Never re-send by itself (see the module docstring).
                max_retries=0,
                # One GET serverInfo on first use: search_issues() only takes Jira Cloud's
                # /search/jql when it knows it is on Cloud (the old /search is gone there).
                get_server_info=True,
            )
        return _Connection(clients[timeout], local.http, timeout)

    async def _call(
        self,
        operation: JiraOperation,
        call: Callable[[_Connection], T],
        *,
        not_found: Callable[[], NoReturn] | None = None,
        write: bool = False,
        request_timeout: float | None = None,
    ) -> T:
        seconds = self._timeout if request_timeout is None else request_timeout
        connected = False

        def run() -> T:
            nonlocal connected
            connection = self._connect(seconds)
            connected = True
            return call(connection)

        started = time.perf_counter()
        outcome = "ok"
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, run)
        except JIRAError as exc:
            status = exc.status_code
            if status == 404 and not_found is not None:
                outcome = "not_found"
            elif status is None or status in _TRANSIENT_STATUSES or status >= 500:
                outcome = "unavailable"
            else:
                outcome = "rejected"
            if exc.status_code == 404 and not_found is not None:
                not_found()
            self._raise_for(exc)
        except RequestException as exc:
            outcome = "unavailable"
            unknown = write and connected and _maybe_sent(exc)
            suffix = " (it may have been carried out)" if unknown else ""
            if isinstance(exc, Timeout):
                message = f"Jira did not answer within {seconds:g}s"
            else:
                message = f"cannot reach Jira: {type(exc).__name__}"
            raise JiraUnavailable(message + suffix, outcome_unknown=unknown) from None
        except ValueError:
            outcome = "unavailable"
            raise JiraUnavailable("Jira answered something that is not JSON") from None
        finally:
            metrics.JIRA_CALL_SECONDS.labels(operation=operation).observe(time.perf_counter() - started)
            metrics.JIRA_CALLS.labels(operation=operation, outcome=outcome).inc()

    @staticmethod
    def _raise_for(exc: JIRAError) -> NoReturn:
        status = exc.status_code
        if status is None:
            raise JiraUnavailable("Jira gave no usable answer") from None
        detail = _jira_error_summary(exc.response)
        if status == 401:
            detail = "the credentials were rejected (check JIRA_EMAIL and JIRA_API_TOKEN)"
        elif status == 403:
            detail = "the Jira user lacks permission for this" + (f" ({detail})" if detail else "")
        message = f"Jira answered HTTP {status}" + (f": {detail}" if detail else "")
        if status in (401, 403):
            raise JiraRejected(message) from None
        if status in _TRANSIENT_STATUSES or status >= 500:
            raise JiraUnavailable(message, retry_after=_retry_after(exc.response)) from None
        raise JiraRejected(message) from None

    # ------------------------------------------------------------------ calls

    async def server_info(self) -> dict[str, Any]:
        """The reachability probe of ``supportbridge check``: any failure is :class:`JiraUnavailable`
        (its message starts "Jira answered HTTP <status>" when Jira answered)."""
        try:
            return await self._call("server_info", lambda c: dict(c.jira.server_info()))
        except JiraRejected as exc:
            raise JiraUnavailable(str(exc)) from None

    async def find_by_label(self, label: str, *, project: str | None = None) -> JiraIssue | None:
        """The oldest issue carrying ``label`` (optionally in ``project``), or None."""
        jql = f"labels = {_jql_string(clean_label(label))} ORDER BY created ASC"
        if project:
            jql = f"project = {_jql_string(project)} AND {jql}"

        def search(c: _Connection) -> Any:
            return c.jira.search_issues(
                jql,
                maxResults=1,
                fields=list(ISSUE_FIELDS),
                json_result=True,
                validate_query=_VALIDATE_QUERY,
            )

        result = await self._call("find_by_label", search)
        issues = (result.get("issues") or []) if isinstance(result, dict) else []
        return _issue_from_raw(self.url, issues[0]) if issues else None

    async def create_issue(
        self,
        *,
        project: str,
        issue_type: str,
        summary: str,
        description: str,
        priority: str | None,
        labels: list[str],
    ) -> JiraIssue:
        """Create one issue (one POST, never repeated here). Then read it back; if that read fails
        the issue still exists, so what we sent is returned rather than an error."""
        summary = clean_summary(summary) or "(no summary)"
        cleaned_labels = list(dict.fromkeys(label for label in map(clean_label, labels) if label))
        fields: dict[str, Any] = {
            "project": {"key": project},
            "issuetype": {"name": issue_type},
            "summary": summary,
            "description": _bounded(description, DESCRIPTION_MAX),
            "labels": cleaned_labels,
        }
        if priority:
            fields["priority"] = {"name": priority}

        def project_missing() -> NoReturn:
            raise JiraRejected(f"Jira answered HTTP 404: project {project!r} was not found") from None

        created = await self._call(
            "create_issue",
            lambda c: c.jira.create_issue(fields=fields, prefetch=False),
            not_found=project_missing,
            write=True,
        )
        key = str(created.key)
        try:
            issue = await self.get_issue(key)
        except JiraError:
            issue = None
        if issue is not None:
            return issue
        return JiraIssue(
            key=key,
            url=f"{self.url}/browse/{key}",
            summary=summary,
            labels=tuple(cleaned_labels),
            snapshot=JiraSnapshot(),
        )

    async def get_issue(self, key: str, *, request_timeout: float | None = None) -> JiraIssue | None:
        """The issue, or None when Jira has no such issue (deleted, moved away, never existed).
        `request_timeout` (default the gateway's) bounds each request, for a caller with less time."""
        checked = _checked_key(key)

        def fetch(c: _Connection) -> dict[str, Any] | None:
            try:
                return dict(c.jira.issue(checked, fields=",".join(ISSUE_FIELDS)).raw)
            except JIRAError as exc:
                if exc.status_code == 404:
                    return None
                raise

        raw = await self._call("get_issue", fetch, request_timeout=request_timeout)
        return _issue_from_raw(self.url, raw) if raw is not None else None

    async def add_remote_link(self, key: str, *, url: str, title: str, global_id: str) -> None:
        """Link ``url`` from the issue. Idempotent: Jira updates the link that has the same
        ``globalId`` instead of adding a second one, so a retry is harmless."""
        checked = _checked_key(key)

        def issue_missing() -> NoReturn:
            raise JiraRejected(f"Jira answered HTTP 404: issue {checked} was not found") from None

        link: dict[str, Any] = {
            "globalId": global_id,
            "application": {"type": "supportbridge", "name": "Supportbridge"},
            "object": {"url": url, "title": _bounded(title, 255)},
        }

        def post(c: _Connection) -> None:
            # Sent directly: the `jira` package's add_remote_link() first lists the site's application
            # links, an admin-only call only used for Jira-to-Jira links, which we never make.
            raise_on_error(
                c.http.post(f"{self.url}/rest/api/2/issue/{checked}/remotelink", json=link, timeout=c.timeout)
            )

        await self._call("add_remote_link", post, not_found=issue_missing, write=True)

    async def comment_bodies(self, key: str) -> list[str]:
        """The text of the issue's comments, oldest first (to find one whose posting went unanswered)."""
        checked = _checked_key(key)

        def issue_missing() -> NoReturn:
            raise JiraRejected(f"Jira answered HTTP 404: issue {checked} was not found") from None

        def read(c: _Connection) -> list[str]:
            return [str(comment.body) for comment in c.jira.comments(checked)]

        return await self._call("comment_bodies", read, not_found=issue_missing)

    async def add_comment(self, key: str, body: str) -> None:
        """Add a comment (wiki markup, REST v2). Not idempotent: Jira has no dedupe key for comments."""
        checked = _checked_key(key)

        def issue_missing() -> NoReturn:
            raise JiraRejected(f"Jira answered HTTP 404: issue {checked} was not found") from None

        await self._call(
            "add_comment",
            lambda c: c.jira.add_comment(checked, bounded_comment(body)),
            not_found=issue_missing,
            write=True,
        )

    async def project_versions(self, project: str) -> list[JiraVersion]:
        """Every version of ``project`` (a key or an id), released or not, in Jira's order."""
        checked = _checked_project(project)

        def project_missing() -> NoReturn:
            raise JiraRejected(f"Jira answered HTTP 404: project {checked!r} was not found") from None

        raws = await self._call(
            "project_versions",
            lambda c: [dict(v.raw) for v in c.jira.project_versions(checked)],
            not_found=project_missing,
        )
        return [v for v in map(version_from_raw, raws) if v is not None]

    async def project(self, project: str, *, request_timeout: float | None = None) -> JiraProject | None:
        """A project by key or id (a version webhook names its project by id only), or None.
        `request_timeout` as in :meth:`get_issue`."""
        checked = _checked_project(project)

        def fetch(c: _Connection) -> dict[str, Any] | None:
            try:
                return dict(c.jira.project(checked).raw)
            except JIRAError as exc:
                if exc.status_code == 404:
                    return None
                raise

        raw = await self._call("project", fetch, request_timeout=request_timeout)
        if raw is None:
            return None
        types = raw.get("issueTypes")
        return JiraProject(
            id=str(raw.get("id") or ""),
            key=str(raw.get("key") or ""),
            name=str(raw.get("name") or ""),
            issue_types=tuple(str(t["name"]) for t in types or () if isinstance(t, dict) and t.get("name"))
            if isinstance(types, list)
            else (),
        )

    async def projects(self, *, request_timeout: float | None = None) -> list[JiraProject]:
        """Every project the bot's Jira user can see (the escalation modal's project choices)."""

        def fetch(c: _Connection) -> list[dict[str, Any]]:
            return [dict(p.raw) for p in c.jira.projects()]

        raws = await self._call("projects", fetch, request_timeout=request_timeout)
        return [
            JiraProject(
                id=str(raw.get("id") or ""), key=str(raw["key"]), name=str(raw.get("name") or raw["key"])
            )
            for raw in raws
            if isinstance(raw.get("key"), str) and raw["key"]
        ]

    async def issue_types(self, project: str, *, request_timeout: float | None = None) -> list[JiraChoice]:
        """The issue types one can create in ``project`` (Jira's create metadata), sub-tasks left out;
        an empty list when Jira has no such project (or the bot cannot see it)."""
        checked = _checked_project(project)

        def fetch(c: _Connection) -> Any:
            # Sent directly: the `jira` package's project_issue_types() refuses Jira Cloud, which has
            # served this endpoint since the old createmeta was deprecated.
            response = c.http.get(
                f"{self.url}/rest/api/2/issue/createmeta/{checked}/issuetypes",
                params={"maxResults": 100},
                timeout=c.timeout,
            )
            if response.status_code == 404:
                return {}
            raise_on_error(response)
            return response.json()

        page = await self._call("issue_types", fetch, request_timeout=request_timeout)
        page = page if isinstance(page, dict) else {}
        # Cloud names the list `issueTypes`; Data Center (8.4 and later) names it `values`.
        return _choices(page.get("issueTypes", page.get("values")))

    async def priorities(self, *, request_timeout: float | None = None) -> list[str]:
        """The names of the priorities the Jira site has (GET /priority)."""
        names = await self._call(
            "priorities",
            lambda c: [str(p.name) for p in c.jira.priorities()],
            request_timeout=request_timeout,
        )
        return names


_PROJECT_REF = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]{0,99}|[0-9]{1,18})$")


def _checked_project(project: str) -> str:
    """A project key or id safe to put in a URL path."""
    checked = project.strip()
    if not _PROJECT_REF.match(checked):
        raise ValueError(f"not a Jira project key or id: {project!r}")
    return checked


def _checked_key(key: str) -> str:
    """An issue key safe to put in a URL path."""
    checked = parse_key(key)
    if checked is None or checked != key.strip().upper():
        raise ValueError(f"not a Jira issue key: {key!r}")
    return checked
