"""Release posts rendered when they are sent (`Post` items with a release renderer), reading the
release as it is at that moment: a heads-up that waited in the outbox shows the current problems and
customers to tell, and a cancelled release's post says so instead."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.deliveries.posts import PostDeliveries, Rendered
from bot.domain.outbox import PostRenderer
from bot.services import releases as service
from bot.services.releases import watch_at
from bot.views import releases as views
from db.session import Database


class ReleaseRenderers:
    """The renderers of the three posts, reading the release as it is when the post is sent."""

    def __init__(self, database: Database, config: AppConfig) -> None:
        self.database = database
        self.config = config

    def register(self, posts: PostDeliveries) -> None:
        posts.add_renderer(PostRenderer.RELEASE_HEADS_UP, self.heads_up)
        posts.add_renderer(PostRenderer.RELEASE_DAY, self.release_day)
        posts.add_renderer(PostRenderer.RELEASE_WATCH, self.watch)

    async def _load(
        self, args: dict[str, Any]
    ) -> tuple[service.ReleaseSummary, list[service.FixedProblem]] | None:
        release_id = int(args["release"])

        def load(conn: Connection) -> tuple[service.ReleaseSummary, list[service.FixedProblem]] | None:
            release = service.load_release(conn, release_id)
            if release is None:
                return None
            return release, service.fixed_problems(conn, release.version, release.jira_project)

        return await self.database.transaction(load)

    async def heads_up(self, args: dict[str, Any]) -> Rendered | None:
        loaded = await self._load(args)
        if loaded is None:
            return None
        release, problems = loaded
        if release.status == "cancelled":
            # A heads-up still waiting is dropped; one already posted says the release is off.
            return views.render_release_cancelled(release, self.config.zone) if args.get("edit") else None
        return views.render_heads_up(release, problems, self.config.zone)

    async def release_day(self, args: dict[str, Any]) -> Rendered | None:
        loaded = await self._load(args)
        if loaded is None or loaded[0].status == "cancelled":
            return None
        release, problems = loaded
        return views.render_release_day(release, problems, self.config.releases, self.config.zone)

    async def watch(self, args: dict[str, Any]) -> Rendered | None:
        release_id = int(args["release"])
        config = self.config

        def load(conn: Connection) -> service.WatchReport | None:
            release = service.load_release(conn, release_id)
            if release is None or release.status == "cancelled":
                return None
            end = watch_at(release.release_at, config)
            return service.watch_report(conn, release, end, config.releases)

        report = await self.database.transaction(load)
        return views.render_watch(report, config.releases) if report is not None else None
