"""Which reply channels this deployment has: each one whose settings are all present."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .email import SmtpChannel
from .intercom import IntercomChannel
from .types import ReplyChannel
from .webhook import WebhookChannel
from .zendesk import ZendeskChannel

if TYPE_CHECKING:  # integrations import only the domain at run time; these are the callers' types
    from bot.config import AppConfig
    from bot.settings import Settings


def reply_to_address(settings: Settings, config: AppConfig) -> str | None:
    """Where a customer's answer to a reply e-mail should go: the support mailbox."""
    if config.replies.reply_to:
        return config.replies.reply_to
    if config.email is not None and "@" in config.email.user:
        return config.email.user
    return settings.support_email_from


def build_reply_channels(settings: Settings, config: AppConfig) -> dict[str, ReplyChannel]:
    """The channels whose settings are present, by name ("email", "intercom", "zendesk", "webhook")."""
    channels: dict[str, ReplyChannel] = {}
    if settings.smtp_url is not None and settings.support_email_from:
        channels["email"] = SmtpChannel(
            settings.smtp_url.get_secret_value(),
            settings.support_email_from,
            reply_to=reply_to_address(settings, config),
            ca_file=settings.smtp_ca_file,
        )
    if settings.intercom_access_token is not None:
        channels["intercom"] = IntercomChannel(
            settings.intercom_access_token.get_secret_value(), api_url=settings.intercom_api_url
        )
    zendesk_url = settings.zendesk_api_url or (
        f"https://{settings.zendesk_subdomain}.zendesk.com" if settings.zendesk_subdomain else None
    )
    if zendesk_url and settings.zendesk_email and settings.zendesk_api_token is not None:
        channels["zendesk"] = ZendeskChannel(
            zendesk_url, settings.zendesk_email, settings.zendesk_api_token.get_secret_value()
        )
    if settings.intake_secret is not None and config.replies.webhooks:
        channels["webhook"] = WebhookChannel(
            settings.intake_secret.get_secret_value(),
            {source: hook.notify_url for source, hook in config.replies.webhooks.items()},
        )
    return channels
