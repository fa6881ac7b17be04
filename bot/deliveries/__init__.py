"""The outbox's effects on the outside world: each module loads what an item names, renders it with a
view, calls Slack or Jira through our gateways, and returns the writes that record what it did.

One module per kind of effect, each registering its handlers (and post renderers) with the outbox:

- `cards`: issue cards, notes in their threads, customers to tell, rationale requests, ephemerals,
  messages logged by a reaction;
- `posts`: every other post (announcements, DMs, thread replies), once per key, rendered when sent;
- `home`: each person's App Home;
- `jira`: creating or linking a problem's Jira issue, and comments naming new customers;
- `shadowing`, `digest`, `releases`: the renderers of those features' posts and their own items.

`policy` holds the one rule applied to Slack's answers: join once, retry what can succeed, give up
(as dead, logged) on what never will. A delivery given up is also told once a day per kind and reason
in the alerts channel, with the command that retries or drops it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import Connection

from bot.config import AppConfig
from bot.deliveries.cards import CardDeliveries
from bot.deliveries.csat import SurveyDeliveries
from bot.deliveries.digest import DigestDeliveries
from bot.deliveries.home import HomeDeliveries
from bot.deliveries.jira import JiraDeliveries
from bot.deliveries.posts import PostDeliveries
from bot.deliveries.releases import ReleaseRenderers
from bot.deliveries.replies import ReplyDeliveries
from bot.deliveries.shadowing import ShadowDeliveries
from bot.domain.outbox import OutboxKind
from bot.people import People
from bot.services.outbox import Claimed, Deliverer, OnDead
from bot.services.posts import enqueue_post
from bot.services.problem_search import ProblemSearch
from bot.views.blocks import escape
from db.models import utcnow
from db.session import Database
from integrations.jira_client import JiraGateway
from integrations.replies import ReplyChannel
from integrations.slack import SlackGateway


def register_deliveries(
    deliverer: Deliverer,
    database: Database,
    config: AppConfig,
    slack: SlackGateway,
    people: People,
    *,
    jira: JiraGateway | None,
    search: ProblemSearch | None,
    replies: Mapping[str, ReplyChannel] | None = None,
    public_url: str | None = None,
) -> PostDeliveries:
    """Every outbox handler and post renderer of a process that talks to Slack."""
    cards = CardDeliveries(
        database, config, slack, wake=deliverer.wake, search=search, jira_enabled=jira is not None
    )
    cards.register(deliverer)
    JiraDeliveries(database, config, jira, cards.card_permalink).register(deliverer)
    posts = PostDeliveries(database, slack)
    posts.register(deliverer)
    cards.add_renderers(posts)
    ShadowDeliveries(database, config, people, slack).register(deliverer, posts)
    HomeDeliveries(database, config, slack, people, cards.card_permalink).register(deliverer)
    channels = replies if replies is not None else {}
    ReplyDeliveries(database, slack, channels, config).register(deliverer)
    SurveyDeliveries(database, config, slack, channels, public_url).register(deliverer)
    DigestDeliveries(database, config, slack, cards.card_permalink).register(deliverer, posts)
    ReleaseRenderers(database, config).register(posts)
    if config.channels.alerts:
        deliverer.on_dead = dead_letter_notice(config.channels.alerts)
    return posts


def dead_letter_notice(alerts: str) -> OnDead:
    """Tell the alerts channel that a delivery was given up: once a day per kind and reason."""

    def notice(conn: Connection, item: Claimed, reason: str) -> None:
        if item.kind == OutboxKind.POST and item.payload.get("channel") == alerts:
            return  # a notice that cannot reach the alerts channel must not ask for another
        day = utcnow().date().isoformat()
        text = (
            f":warning: A delivery was given up: it can never succeed as it is ({item.kind}, "
            f"{escape(reason)}). `supportbridge deliveries` lists it; once the cause is fixed, "
            f"`supportbridge deliveries retry {item.id}` sends it again (`drop` forgets it)."
        )
        enqueue_post(conn, channel=alerts, key=f"dead-letter:{day}:{item.kind}:{reason[:80]}", text=text)

    return notice
