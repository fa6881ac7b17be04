"""The choices of "Escalate with details…": Jira's projects, the issue types one can create in a
project, and the priorities — read from Jira itself and kept a few minutes in this process.

Slack gives an options request 3 seconds. A read of Jira that takes longer is not awaited past
`answer_within`: the person gets what is cached (possibly stale), or no options at all, and the read
goes on in the background so the next keystroke (or Slack's retry) finds the answer. One read per
list runs at a time, however many requests ask; after a failure Jira is left alone for
`retry_after_failure` seconds. Nothing here raises: Jira being down means empty options."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain.escalation import FieldChoice
from integrations.jira_client import JiraError, JiraGateway

log = logging.getLogger(__name__)

OPTIONS_MAX = 100  # Slack shows at most 100 options
LABEL_MAX = 75  # an option's text
VALUE_MAX = 150  # an option's value
ENTRIES_MAX = 256  # issue-type lists of this many projects at most
READ_TIMEOUT = 5.0  # each request of a background read (a hung Jira frees its thread then)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _choice(value: str, label: str) -> FieldChoice | None:
    value, label = _clean(value), _clean(label)
    if not value or len(value) > VALUE_MAX:
        return None  # a value we could not send back whole
    return FieldChoice(value=value, label=label[:LABEL_MAX] or value)


def matching(choices: list[FieldChoice], query: str) -> list[FieldChoice]:
    """Those whose label or value contains every word typed (any case), those starting with it first;
    at most OPTIONS_MAX."""
    words = query.casefold().split()
    if not words:
        return choices[:OPTIONS_MAX]
    found = [c for c in choices if all(w in c.label.casefold() or w in c.value.casefold() for w in words)]
    first = words[0]
    found.sort(
        key=lambda c: not (c.value.casefold().startswith(first) or c.label.casefold().startswith(first))
    )
    return found[:OPTIONS_MAX]


@dataclass
class _Entry:
    choices: list[FieldChoice] | None = None
    fetched_at: float = -math.inf
    failed_at: float = -math.inf
    reading: asyncio.Task[None] | None = None


class JiraFieldChoices:
    """A per-process cache of Jira's create metadata, answering within Slack's options deadline."""

    def __init__(
        self,
        jira: JiraGateway,
        *,
        fresh_for: float = 300.0,
        answer_within: float = 2.0,
        retry_after_failure: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jira = jira
        self._fresh_for = fresh_for
        self._answer_within = answer_within
        self._retry_after_failure = retry_after_failure
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}

    async def projects(self, query: str = "") -> list[FieldChoice]:
        return matching(await self._get(("projects", ""), self._read_projects), query)

    async def issue_types(self, project: str, query: str = "") -> list[FieldChoice]:
        project = project.strip().upper()
        if not project:
            return []
        return matching(
            await self._get(("issue_types", project), lambda: self._read_issue_types(project)), query
        )

    async def priorities(self, query: str = "") -> list[FieldChoice]:
        return matching(await self._get(("priorities", ""), self._read_priorities), query)

    def warm(self, project: str) -> None:
        """Start reading what the modal about to open will ask for, without waiting."""
        self._start(("projects", ""), self._read_projects)
        self._start(("priorities", ""), self._read_priorities)
        if project.strip():
            key = project.strip().upper()
            self._start(("issue_types", key), lambda: self._read_issue_types(key))

    def known_projects(self) -> list[str] | None:
        """The project keys as last read from Jira, or None when not read (no Jira call)."""
        entry = self._entries.get(("projects", ""))
        return None if entry is None or entry.choices is None else [c.value for c in entry.choices]

    def project_label(self, project: str) -> str | None:
        """How the project's option reads ("Web Platform (WEB)") if its list was read, else None."""
        entry = self._entries.get(("projects", ""))
        key = project.strip().upper()
        return (
            next((c.label for c in entry.choices if c.value == key), None)
            if entry and entry.choices
            else None
        )

    def known_priorities(self) -> list[str] | None:
        """The priorities as last read from Jira, or None when not read (no Jira call)."""
        entry = self._entries.get(("priorities", ""))
        return None if entry is None or entry.choices is None else [c.value for c in entry.choices]

    def known_issue_types(self, project: str) -> list[str] | None:
        """The issue types of `project` as last read from Jira, or None when not read (no Jira call)."""
        entry = self._entries.get(("issue_types", project.strip().upper()))
        return None if entry is None or entry.choices is None else [c.value for c in entry.choices]

    # -- the cache

    def _start(self, key: tuple[str, str], read: Callable[[], Awaitable[list[FieldChoice]]]) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= ENTRIES_MAX:
                idle = [k for k, e in self._entries.items() if e.reading is None]
                for old in sorted(idle, key=lambda k: self._entries[k].fetched_at)[: len(idle) // 2 + 1]:
                    del self._entries[old]
            entry = self._entries[key] = _Entry()
        now = self._clock()
        fresh = entry.choices is not None and now - entry.fetched_at < self._fresh_for
        resting = now - entry.failed_at < self._retry_after_failure
        if entry.reading is None and not fresh and not resting:
            entry.reading = asyncio.get_running_loop().create_task(self._read(key, entry, read))
        return entry

    async def _get(
        self, key: tuple[str, str], read: Callable[[], Awaitable[list[FieldChoice]]]
    ) -> list[FieldChoice]:
        entry = self._start(key, read)
        if entry.reading is not None:
            # shield: giving up on the answer must not cancel the read that will fill the cache
            with_deadline = asyncio.wait_for(asyncio.shield(entry.reading), self._answer_within)
            try:
                await with_deadline
            except TimeoutError:
                log.info("Jira was too slow for an options request", extra={"jira_list": key[0]})
        return list(entry.choices or [])

    async def _read(
        self, key: tuple[str, str], entry: _Entry, read: Callable[[], Awaitable[list[FieldChoice]]]
    ) -> None:
        try:
            entry.choices = await read()
            entry.fetched_at = self._clock()
        except (JiraError, ValueError) as exc:  # ValueError: a project that cannot be a key
            entry.failed_at = self._clock()
            log.warning("cannot read Jira's %s: %s", key[0], exc)
        finally:
            entry.reading = None

    # -- the reads

    async def _read_projects(self) -> list[FieldChoice]:
        projects = await self._jira.projects(request_timeout=READ_TIMEOUT)
        shown = (_choice(p.key, f"{p.name} ({p.key})" if p.name != p.key else p.key) for p in projects)
        return [c for c in shown if c is not None]

    async def _read_issue_types(self, project: str) -> list[FieldChoice]:
        types = await self._jira.issue_types(project, request_timeout=READ_TIMEOUT)
        return [c for c in (_choice(t.name, t.name) for t in types) if c is not None]

    async def _read_priorities(self) -> list[FieldChoice]:
        priorities = await self._jira.priorities(request_timeout=READ_TIMEOUT)
        return [c for c in (_choice(name, name) for name in priorities) if c is not None]
