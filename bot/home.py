"""Publishing each person's App Home (outbox kind `home`): asked for when they open the tab and when
something it shows changes (a booking, a claim). Rendered from current state when sent."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.services import outbox
from bot.services import shadowing as shadow
from bot.services.releases import upcoming_releases
from bot.views.home import ClaimedIssue, Home, releases_of, render_home
from db.models import issues, utcnow
from db.session import Database
from integrations.slack import SlackCallError, SlackGateway, SlackTransientError

log = logging.getLogger(__name__)


def load_home(conn: Connection, config: AppConfig, user: str) -> Home:
    now = utcnow()
    home = Home(user=user, shadowing_enabled=bool(config.shadowing.programmes))
    if home.shadowing_enabled:
        home.mine = shadow.sessions_of(conn, config, user, now)
        home.open_sessions = shadow.open_sessions(conn, config, now, limit=16)
    rows = conn.execute(
        select(issues.c.id, issues.c.subject, issues.c.channel_id, issues.c.severity)
        .where(issues.c.claimed_by == user, issues.c.status == "open")
        .order_by(issues.c.claimed_at.desc())
        .limit(10)
    ).all()
    home.claimed = [ClaimedIssue(r.id, r.subject, r.channel_id, r.severity) for r in rows]
    home.releases = releases_of(upcoming_releases(conn, now, limit=8), config.zone)
    return home


class HomeDeliveries:
    def __init__(self, database: Database, config: AppConfig, slack: SlackGateway) -> None:
        self.database = database
        self.config = config
        self.slack = slack

    def register(self, deliverer: outbox.Deliverer) -> None:
        deliverer.register(shadow.HOME, self.publish)

    async def publish(self, payload: dict[str, Any]) -> None:
        user = str(payload["user"])
        home = await self.database.transaction(lambda conn: load_home(conn, self.config, user))
        try:
            await self.slack.publish_home(user, render_home(home, self.config.zone))
        except SlackTransientError as exc:
            raise outbox.RetryLater(f"slack: {exc}", exc.retry_after) from exc
        except SlackCallError as exc:
            if exc.code in {"user_not_found", "not_enabled"}:
                log.info("home not published", extra={"error": exc.code})
                return
            raise outbox.RetryLater(f"slack: {exc.code}") from exc
