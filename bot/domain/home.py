"""What a person's App Home shows: loaded by `bot.services.home_tab`, rendered by `bot.views.home`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
    wont_do: bool = False  # resolved in Jira as won't do: shown so, never as a fix


@dataclass(frozen=True)
class TopProblem:
    issue_id: int | None
    subject: str
    customers: int
    customers_before: int
    jira_key: str | None
    jira_status: str | None
    wont_do: bool = False


@dataclass(frozen=True)
class UrgentProblem:
    """An open urgent problem nobody has claimed: its card's issue, title, channel and first report."""

    issue_id: int
    subject: str
    channel: str
    received_at: datetime


@dataclass(frozen=True)
class LeadView:
    """What a member of `leads_group` sees on top of their own Home."""

    backlog: tuple[tuple[str, int], ...]  # open issues by age bucket, youngest first
    sla_breaches: int  # issues whose first response came (or is still due) past target, last 7 days
    unclaimed_urgent: tuple[UrgentProblem, ...]
    unclaimed_urgent_total: int


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
    lead: LeadView | None = None
