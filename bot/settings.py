"""Settings from the environment (and a `.env` file), read once at start-up.

Nothing else in the code reads `os.environ`: the typed `Settings` object is built by the CLI and
passed down, so every test can build its own.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./supportbridge.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# The published Slack and Jira API contracts the sandbox's fakes check requests against: beside the
# checkout, for a bot started from its root (as `make run` does).
DEFAULT_CONTRACTS = Path("../shared/contracts")


MIN_SECRET_LENGTH = 16


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    # An app-level token (`xapp-…`, scope connections:write): Slack then reaches the bot over Socket
    # Mode, an outbound WebSocket, so no public URL and no signing secret are needed.
    slack_app_token: SecretStr | None = None
    # How often Socket Mode pings Slack; four intervals without a pong and the socket is re-opened.
    socket_mode_ping_interval: float = Field(default=10.0, gt=0, le=300)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=1, le=65535)
    # `supportbridge worker` serves its own GET /metrics here (0: not at all); `serve` uses PORT.
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    supportbridge_config: Path = Path("supportbridge.yml")
    supportbridge_contracts: Path = DEFAULT_CONTRACTS
    intake_secret: SecretStr | None = None
    zendesk_webhook_secret: SecretStr | None = None
    zendesk_subdomain: str | None = None
    intercom_client_secret: SecretStr | None = None
    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_webhook_secret: SecretStr | None = None
    imap_password: SecretStr | None = None
    # Replies to customers (integrations/replies). E-mail: smtp://user:pass@host:587 (STARTTLS when the
    # server offers it) or smtps://user:pass@host:465 (implicit TLS); the URL holds the password.
    smtp_url: SecretStr | None = None
    support_email_from: str | None = None
    # A PEM file of CA certificates to trust for the SMTP server (a private CA); the system's otherwise.
    smtp_ca_file: Path | None = None
    intercom_access_token: SecretStr | None = None
    intercom_api_url: str = "https://api.intercom.io"
    zendesk_email: str | None = None
    zendesk_api_token: SecretStr | None = None
    # Default https://{ZENDESK_SUBDOMAIN}.zendesk.com.
    zendesk_api_url: str | None = None
    # The bot's public address (https://support.example.com): the links of satisfaction surveys
    # (`csat`) point at its GET /csat/{token}; without it no survey is sent.
    public_url: str | None = None
    log_level: str = "INFO"
    log_format: str = "json"

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins base_url + method name; without the slash "…/apichat.postMessage" results.
        return value if value.endswith("/") else value + "/"

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "intake_secret",
        "zendesk_webhook_secret",
        "intercom_client_secret",
        "jira_api_token",
        "jira_webhook_secret",
        "imap_password",
        "smtp_url",
        "intercom_access_token",
        "zendesk_api_token",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: object) -> object:
        if not isinstance(value, str) or not value.strip():
            return None
        url = value.strip().rstrip("/")
        parsed = urlsplit(url)
        if parsed.scheme not in ("https", "http") or not parsed.hostname or parsed.query or parsed.fragment:
            raise ValueError(
                f"PUBLIC_URL must be an http(s):// address (https://support.example.com), not {url[:100]!r}"
            )
        return url

    @field_validator("support_email_from", "zendesk_email", "zendesk_api_url", mode="before")
    @classmethod
    def _blank_text_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def jira_enabled(self) -> bool:
        return bool(self.jira_url)

    def check_startup(self) -> None:
        """Refuse to start with settings that would make the server unsafe or half-configured."""
        if self.slack_app_token is not None:
            if not self.slack_app_token.get_secret_value().startswith("xapp-"):
                raise SettingsError(
                    "SLACK_APP_TOKEN must be an app-level token starting with 'xapp-' (Basic Information → "
                    "App-Level Tokens, scope connections:write)"
                )
            if self.slack_bot_token is None:
                raise SettingsError("SLACK_BOT_TOKEN is missing: it is required when SLACK_APP_TOKEN is set")
        if self.slack_bot_token is not None and self.slack_signing_secret is None and not self.socket_mode:
            raise SettingsError(
                "SLACK_SIGNING_SECRET is missing: it is required when SLACK_BOT_TOKEN is set, "
                "because every request to /slack/events must be signature-checked (or set SLACK_APP_TOKEN "
                "to use Socket Mode, which needs no public URL)"
            )
        if self.slack_signing_secret is not None and self.slack_bot_token is None:
            raise SettingsError("SLACK_BOT_TOKEN is missing: it is required when SLACK_SIGNING_SECRET is set")
        for name, secret in (
            ("SLACK_SIGNING_SECRET", self.slack_signing_secret),
            ("ZENDESK_WEBHOOK_SECRET", self.zendesk_webhook_secret),
            ("INTERCOM_CLIENT_SECRET", self.intercom_client_secret),
            ("JIRA_WEBHOOK_SECRET", self.jira_webhook_secret),
        ):
            # A short shared secret can be guessed, and then anyone can sign requests (Slack's are 32
            # characters): a mistyped or placeholder value stops the start instead.
            if secret is not None and len(secret.get_secret_value().strip()) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    f"{name} is too short to be a real secret (at least {MIN_SECRET_LENGTH} characters)"
                )
        if self.intake_secret is not None and not self.intake_secret.get_secret_value().startswith("whsec_"):
            raise SettingsError("INTAKE_SECRET must be a Standard Webhooks secret starting with 'whsec_'")
        if self.smtp_url is not None:
            url = urlsplit(self.smtp_url.get_secret_value())
            if url.scheme not in ("smtp", "smtps") or not url.hostname:
                # Never echo the URL: it holds the password.
                raise SettingsError(
                    "SMTP_URL must look like smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465"
                )
            if not self.support_email_from or "@" not in self.support_email_from:
                raise SettingsError("SUPPORT_EMAIL_FROM (an e-mail address) is required when SMTP_URL is set")
        if self.zendesk_api_token is not None:
            if not self.zendesk_email:
                raise SettingsError("ZENDESK_EMAIL is missing: it is required when ZENDESK_API_TOKEN is set")
            if not (self.zendesk_subdomain or self.zendesk_api_url):
                raise SettingsError(
                    "ZENDESK_SUBDOMAIN (or ZENDESK_API_URL) is missing: "
                    "it is required when ZENDESK_API_TOKEN is set"
                )
        if self.jira_url and not (self.jira_email and self.jira_api_token):
            missing = "JIRA_EMAIL" if not self.jira_email else "JIRA_API_TOKEN"
            raise SettingsError(f"{missing} is missing: it is required when JIRA_URL is set")
