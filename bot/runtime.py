"""What the handlers need, built once per server and passed down (there is no global app)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import AppConfig
from bot.people import People
from bot.services.jira_fields import JiraFieldChoices
from bot.services.outbox import Deliverer
from bot.services.problem_search import ProblemSearch
from bot.settings import Settings
from db.session import Database
from integrations.jira_client import JiraGateway
from integrations.replies import ReplyChannel
from integrations.slack import SlackGateway

if TYPE_CHECKING:
    from bot.deliveries.posts import PostDeliveries
    from bot.mail_poller import MailPoller
    from schedules.scheduler import Scheduler


@dataclass
class Runtime:
    settings: Settings
    config: AppConfig
    database: Database
    deliverer: Deliverer
    search: ProblemSearch
    people: People
    slack: SlackGateway | None = None
    posts: PostDeliveries | None = None
    jira: JiraGateway | None = None
    jira_fields: JiraFieldChoices | None = None  # the escalation modal's choices, cached from Jira
    mail: MailPoller | None = None
    scheduler: Scheduler | None = None
    # The channels customers can be answered through (by name: email, intercom, zendesk, webhook).
    replies: Mapping[str, ReplyChannel] = field(default_factory=dict)

    def start_background(self) -> None:
        """Deliveries, the mailbox and the scheduler: in `serve` (one process) or in `worker`."""
        if self.slack is not None:
            self.deliverer.start()
        if self.mail is not None:
            self.mail.start()
        if self.scheduler is not None:
            self.scheduler.start()

    async def stop_background(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.mail is not None:
            await self.mail.stop()
        await self.deliverer.stop()
        for channel in self.replies.values():
            await channel.close()
