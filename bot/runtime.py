"""What the handlers need, built once per server and passed down (there is no global app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import AppConfig
from bot.services.outbox import Deliverer
from bot.settings import Settings
from db.session import Database
from integrations.slack import SlackGateway

if TYPE_CHECKING:
    from bot.mail_poller import MailPoller


@dataclass
class Runtime:
    settings: Settings
    config: AppConfig
    database: Database
    deliverer: Deliverer
    slack: SlackGateway | None = None
    mail: MailPoller | None = None
