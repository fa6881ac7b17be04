"""What the bot keeps of a Jira issue's state: read from Jira, carried by its webhooks, stored on the
escalation row (the `jira_*` columns) and shown on the card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class JiraSnapshot:
    """A Jira issue's state as far as a card shows it; None is "none" (or, in a partial webhook, "not
    said": see `bot.services.escalation.apply_jira_update`)."""

    status: str | None = None
    status_category: str | None = None  # "new" | "indeterminate" | "done"
    assignee_name: str | None = None
    assignee_account_id: str | None = None
    assignee_email: str | None = None
    resolution: str | None = None
    fix_versions: tuple[str, ...] = ()
    # When Jira last changed the issue (its `updated` field, or the webhook's `timestamp`): what
    # orders two updates that arrive out of order.
    updated_at: datetime | None = None

    def columns(self) -> dict[str, str | list[str] | datetime | None]:
        """The snapshot as the escalation row stores it: the one mapping of fields to columns."""
        return {
            "jira_status": self.status,
            "jira_status_category": self.status_category,
            "jira_assignee": self.assignee_name,
            "jira_assignee_account_id": self.assignee_account_id,
            "jira_assignee_email": self.assignee_email,
            "jira_resolution": self.resolution,
            "jira_fix_versions": list(self.fix_versions),
            "jira_updated_at": self.updated_at,
        }

    def older_than(self, stored: datetime | None) -> bool:
        """This state is older than the one already stored (a webhook that arrived late)."""
        return self.updated_at is not None and stored is not None and self.updated_at < stored


def jira_time(value: object) -> datetime | None:
    """A Jira timestamp: "2026-12-02T10:11:12.345+0000" (REST fields) or milliseconds since the
    epoch (a webhook's `timestamp`); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        for layout in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                return datetime.strptime(value, layout).astimezone(UTC)
            except ValueError:
                continue
    return None
