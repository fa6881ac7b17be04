"""What the bot keeps of a Jira issue's state: read from Jira, carried by its webhooks, stored on the
escalation row (the `jira_*` columns) and shown on the card."""

from __future__ import annotations

from dataclasses import dataclass


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

    def columns(self) -> dict[str, str | list[str] | None]:
        """The snapshot as the escalation row stores it: the one mapping of fields to columns."""
        return {
            "jira_status": self.status,
            "jira_status_category": self.status_category,
            "jira_assignee": self.assignee_name,
            "jira_assignee_account_id": self.assignee_account_id,
            "jira_assignee_email": self.assignee_email,
            "jira_resolution": self.resolution,
            "jira_fix_versions": list(self.fix_versions),
        }
