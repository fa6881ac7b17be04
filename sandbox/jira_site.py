"""The sandbox's Jira site: the tests' FakeJira, telling the page when an issue changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from sandbox.fakes.jira_api import FakeJira

# What a person can do to an issue from the page, as Jira's UI would: (label, status, resolution).
JIRA_MOVES: dict[str, tuple[str, str | None]] = {
    "To Do": ("To Do", None),
    "In Progress": ("In Progress", None),
    "Done": ("Done", "Done"),
    "Won't Do": ("Done", "Won't Do"),
}


class SandboxJira(FakeJira):
    def __init__(self, api_token: str, *, projects: tuple[str, ...], check_contract: bool) -> None:
        super().__init__(
            email="supportbridge@sandbox.example",
            api_token=api_token,
            projects=projects,
            check_contract=check_contract,
        )
        self.on_change: Callable[[], None] = lambda: None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        if request.method != "GET":
            self.on_change()
        return response

    def move(self, key: str, move: str) -> None:
        """Move an issue the way someone in Jira would; `webhook_payload` then describes the change."""
        status, resolution = JIRA_MOVES[move]
        if resolution is not None:
            self.resolve(key, resolution)
        else:
            self.set_status(key, status)
        self.on_change()

    def summaries(self) -> list[dict[str, Any]]:
        """The issues as the page lists them, newest first."""
        shown = []
        for issue in reversed(list(self.issues.values())):
            fields = issue["fields"]
            shown.append(
                {
                    "key": issue["key"],
                    "summary": fields.get("summary", ""),
                    "status": fields.get("status"),
                    "resolution": fields.get("resolution"),
                    "priority": fields.get("priority"),
                    "labels": list(fields.get("labels") or []),
                    "issuetype": fields.get("issuetype"),
                    "fix_versions": list(fields.get("fixVersions") or []),
                    "comments": len(issue.get("comments") or []),
                }
            )
        return shown
