"""Releases as lists and posts show them: loaded by `bot.services.releases`, rendered by
`bot.views.releases`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ReleaseDraft:
    """What `/release new` asks for, validated."""

    version: str
    release_at: datetime
    summary: str | None
    highlights: str | None
    link: str | None
    channels: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseSummary:
    """A stored release, as lists and posts show it."""

    id: int
    version: str
    release_at: datetime
    status: str  # scheduled | released | cancelled
    source: str  # slack | jira
    summary: str | None
    highlights: str | None
    link: str | None
    channels: tuple[str, ...]
    jira_project: str | None


@dataclass(frozen=True)
class FixedProblem:
    """A customer problem whose Jira issue carries the release's version as a fix version."""

    problem_id: int
    issue_id: int  # the problem's card
    subject: str
    jira_key: str
    jira_url: str | None
    card_channel: str | None
    card_permalink: str | None
    customers: int  # distinct customers behind the problem
    to_tell: tuple[str, ...]  # those not yet told, "Name (Company)", first reporter first


@dataclass(frozen=True)
class AreaCount:
    area: str | None  # None: reports without a product area
    before: int
    after: int
    rose: bool


@dataclass(frozen=True)
class WatchReport:
    release: ReleaseSummary
    period: timedelta  # the length of each window
    areas: tuple[AreaCount, ...]  # risen first, then by complaints since the release

    @property
    def before_total(self) -> int:
        return sum(a.before for a in self.areas)

    @property
    def after_total(self) -> int:
        return sum(a.after for a in self.areas)
