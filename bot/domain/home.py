"""What a person's App Home shows: loaded by `bot.services.home_tab`, rendered by `bot.views.home`."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.releases import ReleaseSummary
from bot.domain.shadowing import Session


@dataclass(frozen=True)
class ClaimedIssue:
    id: int
    subject: str
    channel: str
    severity: str


@dataclass(frozen=True)
class Escalated:
    issue_id: int  # the problem's card
    subject: str
    state: str  # an EscalationState
    jira_key: str | None
    jira_url: str | None
    jira_status: str | None
    jira_resolution: str | None
    customers: int


@dataclass(frozen=True)
class TopProblem:
    issue_id: int | None
    subject: str
    customers: int
    customers_before: int
    jira_key: str | None
    jira_status: str | None


@dataclass
class Home:
    user: str
    mine: list[tuple[Session, str]] = field(default_factory=list)
    open_sessions: list[Session] = field(default_factory=list)
    claimed: list[ClaimedIssue] = field(default_factory=list)
    releases: list[ReleaseSummary] = field(default_factory=list)
    escalated: list[Escalated] = field(default_factory=list)
    top: list[TopProblem] = field(default_factory=list)
    shadowing_enabled: bool = False
