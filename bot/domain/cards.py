"""What an issue card shows and what a resolved problem's customer list shows: loaded by
`bot.services.cards`, rendered by `bot.views.issue_card` and `bot.views.escalation`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CardCustomer:
    name: str | None = None
    email: str | None = None
    company: str | None = None
    plan: str | None = None
    slack_user_id: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class JiraLink:
    """The problem's Jira issue as the card shows it."""

    state: str  # pending | created | linked | failed | unlinked
    key: str | None = None
    url: str | None = None
    status: str | None = None
    assignee: str | None = None
    resolution: str | None = None
    fix_versions: tuple[str, ...] = ()
    error: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Suggestion:
    """A similar open problem: "looks like #123 — 14 customers"."""

    problem_id: int
    issue_id: int  # the problem's own card
    subject: str
    customers: int


@dataclass(frozen=True)
class IssueCard:
    """Everything the card shows, loaded from stored state."""

    issue_id: int
    subject: str
    body: str
    source: str
    severity: str
    reported_at: datetime
    customer: CardCustomer | None  # None: logged from Slack, no customer set yet
    product_area: str | None = None
    tags: tuple[str, ...] = ()
    report_count: int = 1
    customer_count: int = 1
    url: str | None = None
    permalink: str | None = None
    reported_by: str | None = None
    status: str = "open"
    claimed_by: str | None = None
    resolved_by: str | None = None
    # Resolved in Jira with a resolution in `jira.wont_do_resolutions`: shown as won't do, not as a fix.
    wont_do: bool = False
    severity_options: tuple[str, ...] = ("low", "normal", "high", "urgent")
    tag_options: tuple[str, ...] = ()
    problem_id: int | None = None
    merged_into: int | None = None  # the problem's own issue, when this report is merged into it
    merged_into_link: str | None = None
    sources: tuple[str, ...] = ()  # of every report in the problem (shown when there are several)
    customer_names: tuple[str, ...] = ()  # the first few customers of the problem
    jira: JiraLink | None = None
    suggestions: tuple[Suggestion, ...] = ()
    to_tell: int | None = None  # customers not yet told of the resolution
    rationale: str | None = None
    jira_enabled: bool = True
    # First response: when the issue arrived, when and by whom it was first answered, and when the
    # severity's SLA target wants it (None without a target, or once it no longer waits).
    received_at: datetime | None = None
    first_response_at: datetime | None = None
    first_response_by: str | None = None
    first_response_due: datetime | None = None
    # Satisfaction answers about the problem (`csat`): the average score (1 to 5) and how many.
    satisfaction: float | None = None
    satisfaction_answers: int = 0


@dataclass(frozen=True)
class CustomerToTell:
    customer_id: int
    name: str
    company: str | None
    email: str | None
    sources: tuple[str, ...]
    notified_by: str | None  # a Slack user id, when already told
    notified: bool = False
    # The fix notice sent through their own channel ("Tell all N customers…"), if any.
    notice_state: str | None = None  # queued | sent | failed | replied
    notice_channel: str | None = None  # "by e-mail", "on Intercom", ...
    notice_reason: str | None = None
    notice_reply_id: int | None = None


@dataclass(frozen=True)
class ResolvedProblem:
    problem_id: int
    issue_id: int  # the problem's card
    subject: str
    jira_key: str | None
    jira_url: str | None
    resolution: str | None
    fix_versions: tuple[str, ...]
    customers: tuple[CustomerToTell, ...]
    wont_do: bool = False  # its Jira resolution is a won't-do one: the customers hear why, not "fixed"
    rationale: str | None = None  # product's words on why, once written
