"""Publishing each person's App Home (`RefreshHome` items): asked for when they open the tab and when
something it shows changes (a booking, a claim). Rendered from current state when sent."""

from __future__ import annotations

import logging

from bot.config import AppConfig
from bot.deliveries.policy import outbox_failure
from bot.domain.outbox import RefreshHome
from bot.services import outbox
from bot.services.home_tab import load_home
from bot.views.home import render_home
from db.session import Database
from integrations.slack import SlackError, SlackGateway, UserUnreachable

log = logging.getLogger(__name__)


class HomeDeliveries:
    def __init__(self, database: Database, config: AppConfig, slack: SlackGateway) -> None:
        self.database = database
        self.config = config
        self.slack = slack

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(RefreshHome, self.publish)

    async def publish(self, payload: RefreshHome) -> None:
        user = payload.user
        home = await self.database.transaction(lambda conn: load_home(conn, self.config, user))
        try:
            await self.slack.publish_home(user, render_home(home, self.config.zone))
        except UserUnreachable as exc:
            # Deactivated, or the app's Home tab is off: the next opening asks again.
            log.info("home not published", extra={"error": exc.code})
        except SlackError as exc:
            raise outbox_failure(exc) from exc
