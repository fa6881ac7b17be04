"""Sending digests and alerts: the digest post and threshold alerts are rendered when sent (`bot.posts`
renderers reading current state), and the digest's trend chart is uploaded into the digest's thread by an
outbox item of its own (kind `digest_chart`) once the digest is out.

Without the `files:write` scope the digest still posts; the chart's delivery then replies in the thread
saying why there is no chart, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.deliveries.policy import outbox_failure
from bot.deliveries.posts import PostDeliveries, Rendered
from bot.domain.digest import Spike, SpikeLine
from bot.domain.outbox import DigestChart, PostRenderer
from bot.services import outbox
from bot.services.cards import problem_summaries
from bot.services.digest import Digest, compute_digest, trend
from bot.services.posts import enqueue_post, posted
from bot.views.blocks import context, escape, section, truncate
from bot.views.digest import render_digest, render_spike_alerts
from bot.views.digest_chart import alt_text, render_trend_png
from db.models import posted_messages, utcnow
from db.session import Database
from integrations.slack import MissingScope, SlackError, SlackGateway

log = logging.getLogger(__name__)

CHART_NOTE = "The trend chart of the last 8 weeks follows in the thread."
NO_SCOPE_NOTE = (
    "No trend chart this time: the Supportbridge app lacks Slack's `files:write` scope. "
    "Reinstall the app with that scope to get the chart here."
)

CardLink = Callable[[int], Awaitable[str | None]]


async def card_links(digest: Digest, card_link: CardLink) -> dict[int, str]:
    """Permalinks for the listed problems' cards that are not stored yet (asked of Slack once each)."""
    lines = {line.problem_id: line for line in (*digest.top, *digest.new_problems, *digest.rising)}
    missing = [line for line in lines.values() if not line.permalink and line.issue_id is not None]
    found = await asyncio.gather(*(card_link(line.issue_id or 0) for line in missing))
    return {line.problem_id: link for line, link in zip(missing, found, strict=True) if link}


class DigestDeliveries:
    def __init__(
        self, database: Database, config: AppConfig, slack: SlackGateway, card_link: CardLink
    ) -> None:
        self.database = database
        self.config = config
        self.slack = slack
        self.card_link = card_link

    def register(self, deliverer: outbox.Deliverer, posts: PostDeliveries) -> None:
        posts.add_renderer(PostRenderer.DIGEST, self.render)
        posts.add_renderer(PostRenderer.THRESHOLD_ALERT, self.threshold_alert)
        posts.add_renderer(PostRenderer.SPIKE_ALERT, self.spike_alert)
        deliverer.register(DigestChart, self.chart)

    async def digest(self, start: datetime, end: datetime) -> Digest:
        return await self.database.transaction(lambda conn: compute_digest(conn, self.config, start, end))

    async def render(self, args: dict[str, Any]) -> Rendered:
        digest = await self.digest(datetime.fromisoformat(args["start"]), datetime.fromisoformat(args["end"]))
        links = await card_links(digest, self.card_link)
        note = None if digest.trend.empty else CHART_NOTE
        return render_digest(digest, self.config.zone, links=links, chart_note=note)

    async def chart(self, payload: DigestChart) -> outbox.Effects | None:
        key = payload.key
        chart_key = f"{key}:chart"
        end = datetime.fromisoformat(payload.end)

        def load(conn: Connection) -> tuple[Any, Any, Any]:
            return posted(conn, key), posted(conn, chart_key), trend(conn, end)

        parent, done, weekly = await self.database.transaction(load)
        if done is not None:
            return None  # uploaded already (a retry after the upload went out)
        if parent is None:
            raise outbox.RetryLater(f"digest {key} not posted yet")
        if weekly.empty:
            return None
        zone = self.config.zone
        image = await asyncio.to_thread(render_trend_png, weekly, zone)
        try:
            await self.slack.upload_file(
                channel=parent.channel,
                thread_ts=parent.ts,
                filename=f"supportbridge-trend-{end:%Y-%m-%d}.png",
                content=image,
                title="New customer issues per week, last 8 weeks",
                alt_text=alt_text(weekly, zone),
            )
        except MissingScope as exc:
            log.warning("digest chart not uploaded: no files:write scope", extra={"error": exc.code})

            def explain(conn: Connection) -> None:
                enqueue_post(
                    conn,
                    channel=parent.channel,
                    key=f"{key}:no-chart",
                    thread=key,
                    text=NO_SCOPE_NOTE,
                    blocks=[context(NO_SCOPE_NOTE)],
                )

            return explain
        except SlackError as exc:
            raise outbox_failure(exc) from exc

        def record(conn: Connection) -> None:
            conn.execute(
                insert(posted_messages).values(
                    key=chart_key, channel=parent.channel, ts=parent.ts, created_at=utcnow()
                )
            )

        return record

    async def threshold_alert(self, args: dict[str, Any]) -> Rendered | None:
        problem_id, threshold = int(args["problem"]), int(args["threshold"])
        rows = await self.database.transaction(lambda conn: problem_summaries(conn, [problem_id]))
        if not rows:
            return None  # merged away meanwhile: the problem it joined counts for itself
        row = rows[0]
        link = row.permalink or (await self.card_link(row.primary_issue_id) if row.primary_issue_id else None)
        title = escape(truncate(row.subject, 150))
        name = f"<{link}|{title}>" if link else title
        if row.jira_key:
            jira_key = escape(row.jira_key)
            key = f"<{row.jira_url}|{jira_key}>" if row.jira_url else jira_key
            if self.config.jira.is_wont_do(row.jira_resolution):  # a decision, not a fix
                jira = f"Jira {key}: :no_entry_sign: won't do"
            else:
                jira = f"Jira {key}: {escape(row.jira_status or 'status unknown')}"
        else:
            jira = "Not escalated to Jira yet"
        text = f":rotating_light: A problem reached {threshold} customers: {title}"
        blocks = [
            section(f":rotating_light: *A problem reached {threshold} customers*\n*{name}*"),
            context(
                f"{row.customers} distinct customers · {row.reports} reports · {jira}"
                + (f" · card in <#{row.channel}>" if row.channel else "")
            ),
        ]
        return blocks, text

    async def spike_alert(self, args: dict[str, Any]) -> Rendered:
        """One check's spikes (`args["spikes"]`), or one spike (`args` itself, posts enqueued before
        spikes were batched), each line linking the card of the problem most reported there."""
        raw = args.get("spikes", [args])
        spikes = [
            (
                Spike(
                    dimension=str(item["dimension"]),
                    name=str(item["name"]),
                    span=str(item["span"]),
                    observed=int(item["observed"]),
                    expected=float(item["expected"]),
                ),
                int(item["problem"]) if item.get("problem") is not None else None,
            )
            for item in raw
        ]
        ids = sorted({p for _, p in spikes if p is not None})
        rows = await self.database.transaction(lambda conn: problem_summaries(conn, ids, counts=False))
        found = {row.id: row for row in rows}
        links: dict[int, str | None] = {}
        for row in rows:
            links[row.id] = row.permalink or (
                await self.card_link(row.primary_issue_id) if row.primary_issue_id else None
            )
        lines = []
        for spike, problem_id in spikes:
            row = found.get(problem_id) if problem_id is not None else None
            if row is None:  # an older post, or the problem merged away meanwhile
                lines.append(SpikeLine(spike))
            else:
                lines.append(SpikeLine(spike, row.subject, links.get(row.id), row.channel))
        return render_spike_alerts(lines)
