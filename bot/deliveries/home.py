"""Publishing each person's App Home (`RefreshHome` items): asked for when they open the tab and when
something it shows changes (a booking, a claim). Rendered from current state when sent, each issue and
problem linked to its card (permalinks asked of Slack once each, then remembered); members of
`leads_group` (looked up through `People`, cached) also get the lead view."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.config import AppConfig
from bot.deliveries.policy import outbox_failure
from bot.domain.home import Home
from bot.domain.outbox import RefreshHome
from bot.people import People
from bot.services import outbox
from bot.services.home_tab import load_home
from bot.views.home import render_home
from db.session import Database
from integrations.slack import SlackError, SlackGateway, UserUnreachable

log = logging.getLogger(__name__)


class HomeDeliveries:
    def __init__(
        self,
        database: Database,
        config: AppConfig,
        slack: SlackGateway,
        people: People,
        card_link: Callable[[int], Awaitable[str | None]],
    ) -> None:
        self.database = database
        self.config = config
        self.slack = slack
        self.people = people
        self.card_link = card_link

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(RefreshHome, self.publish)

    async def publish(self, payload: RefreshHome) -> None:
        user = payload.user
        group = self.config.leads_group
        lead = bool(group) and user in await self.people.members(group or "")
        home = await self.database.transaction(lambda conn: load_home(conn, self.config, user, lead=lead))
        links = await self.links(home)
        try:
            await self.slack.publish_home(user, render_home(home, self.config.zone, links))
        except UserUnreachable as exc:
            # Deactivated, or the app's Home tab is off: the next opening asks again.
            log.info("home not published", extra={"error": exc.code})
        except SlackError as exc:
            raise outbox_failure(exc) from exc

    async def links(self, home: Home) -> dict[int, str]:
        """Permalinks of the cards Home lists (the card's own issue ids)."""
        ids = {issue.id for issue in home.claimed}
        ids |= {item.issue_id for item in home.escalated}
        ids |= {item.issue_id for item in home.top if item.issue_id is not None}
        if home.lead is not None:
            ids |= {item.issue_id for item in home.lead.unclaimed_urgent}
        ordered = sorted(ids)
        found = await asyncio.gather(*(self.card_link(issue_id) for issue_id in ordered))
        return {issue_id: link for issue_id, link in zip(ordered, found, strict=True) if link}
