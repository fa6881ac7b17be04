"""The states of a problem's escalation to Jira (stored in `escalations.state`) and what the escalation
modal offers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EscalationState(StrEnum):
    PENDING = "pending"  # asked for; the outbox creates (or finds) the Jira issue
    CREATED = "created"  # we created the Jira issue
    LINKED = "linked"  # linked to an existing Jira issue (or ours, once read back)
    FAILED = "failed"  # Jira refused or stayed down past `jira.max_attempts`; the card offers Retry
    UNLINKED = "unlinked"  # the link was removed; the problem may be escalated again


# States in which a problem counts as escalated (a second escalation is refused or retried).
ACTIVE_STATES = frozenset(
    {EscalationState.PENDING, EscalationState.CREATED, EscalationState.LINKED, EscalationState.FAILED}
)


@dataclass(frozen=True)
class EscalationDefaults:
    project: str
    issue_type: str
    priority: str | None
    summary: str


@dataclass(frozen=True)
class FieldChoice:
    """One option of the escalation modal's Jira fields: what is sent to Jira, and what is shown."""

    value: str  # a project key, an issue type's or a priority's name
    label: str


@dataclass(frozen=True)
class RationaleWritten:
    """A won't-do rationale as written: what its requests show once it is there."""

    problem_id: int
    issue_id: int
    subject: str
    text: str
    by: str | None
