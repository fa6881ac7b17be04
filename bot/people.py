"""Who is in a list of Slack users and user groups: `U…` ids stay, `S…` groups are expanded through
Slack (`usergroups.users.list`) and remembered for a few minutes, so permission checks and scheduled
jobs do not call Slack for every click."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from integrations.slack import SlackError, SlackGateway

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
# Inside a Slack request (answered within 3 s) a lookup may take this long; past it, `TimeoutError`.
REQUEST_BUDGET_SECONDS = 1.0


class People:
    def __init__(self, slack: SlackGateway | None, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.slack = slack
        self.cache_seconds = cache_seconds
        self._groups: dict[str, tuple[float, list[str]]] = {}

    async def members(self, group: str) -> list[str]:
        cached = self._groups.get(group)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        if self.slack is None:
            return []
        try:
            found = await self.slack.usergroup_members(group)
        except SlackError as exc:
            # A stale answer beats none; with none, the group counts as empty until Slack answers.
            log.warning("user group not expanded", extra={"group": group, "error": str(exc)})
            return cached[1] if cached is not None else []
        self._groups[group] = (time.monotonic(), found)
        return found

    async def expand(self, ids: Iterable[str], *, within: float | None = None) -> list[str]:
        """Users in order of first appearance, groups expanded, no duplicates. `within` bounds the
        whole lookup (seconds): past it, `TimeoutError`."""
        if within is not None:
            async with asyncio.timeout(within):
                return await self.expand(ids)
        seen: dict[str, None] = {}
        for item in ids:
            if item.startswith("S"):
                for user in await self.members(item):
                    seen.setdefault(user, None)
            else:
                seen.setdefault(item, None)
        return list(seen)

    async def includes(self, ids: Iterable[str], user: str, *, within: float | None = None) -> bool:
        ids = list(ids)
        if user in ids:
            return True
        return user in await self.expand((i for i in ids if i.startswith("S")), within=within)
