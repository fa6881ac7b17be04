"""The YAML configuration file (`SUPPORTBRIDGE_CONFIG`, default `./supportbridge.yml`).

It holds what an admin shapes — channels, routes, tags, severities — never secrets. It is read
once at start-up; an invalid file stops the start with one message naming the key.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from datetime import time as Time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.intake import Severity
from bot.sla import USER_GROUP_ID, SlaConfig, Weekday, parse_hh_mm
from bot.when import Duration, WeeklyAt, parse_weekday

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{1,9}")
SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,}")
PROGRAMME_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; the message names the key."""


def _channel(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    if not CHANNEL_ID.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel ID (like C0123456789; in Slack: channel details → bottom)"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channels(_Strict):
    default: str
    digest: str | None = None
    alerts: str | None = None
    releases: str | None = None

    _ids = field_validator("default", "digest", "alerts", "releases")(_channel)


class RouteMatch(_Strict):
    """Each key matches one value or any of a list; all given keys must match."""

    source: list[str] | None = None
    product_area: list[str] | None = None
    severity: list[Severity] | None = None
    tag: list[str] | None = None

    @field_validator("source", "product_area", "severity", "tag", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        return [str(item).strip().lower() for item in items]

    @model_validator(mode="after")
    def _not_empty(self) -> RouteMatch:
        if not any((self.source, self.product_area, self.severity, self.tag)):
            raise ValueError("needs at least one of source, product_area, severity, tag")
        return self


class Route(_Strict):
    match: RouteMatch
    channel: str
    jira_project: str | None = None
    # Who answers for this route's issues (Slack users or user groups): the first-response reminder
    # mentions them (else `sla.on_duty_group`).
    owners: list[str] = Field(default_factory=list)

    _id = field_validator("channel")(_channel)

    @field_validator("owners", mode="before")
    @classmethod
    def _owners(cls, value: Any) -> Any:
        return _people(value)

    @field_validator("jira_project")
    @classmethod
    def _project_key(cls, value: str | None) -> str | None:
        if value is not None and not PROJECT_KEY.fullmatch(value):
            raise ValueError(f"{value!r} is not a Jira project key (like SUP or WEB2)")
        return value


class Internal(_Strict):
    # Reports from customers whose e-mail is in these domains are colleagues': never counted.
    email_domains: list[str] = Field(default_factory=list)

    @field_validator("email_domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(d).strip().lower().lstrip("@") for d in value if str(d).strip()]
        return value

    def is_internal_email(self, email: str | None) -> bool:
        if not email or "@" not in email:
            return False
        domain = email.rsplit("@", 1)[1].lower()
        return any(domain == d or domain.endswith("." + d) for d in self.email_domains)


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ReplyWebhook(_Strict):
    # Where a generic intake source takes replies: a Standard Webhooks-signed POST (INTAKE_SECRET).
    notify_url: str

    @field_validator("notify_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        parsed = urlsplit(value)
        # Plain http only to this machine (a local relay, the tests): replies carry customer text.
        if parsed.hostname and (
            parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in _LOOPBACK_HOSTS)
        ):
            return value
        raise ValueError(
            f"notify_url must be an https:// URL (plain http only on loopback), not {value[:100]!r}"
        )


DEFAULT_FIX_NOTICE = (
    'Hi {name},\n\nGood news: the problem you reported, "{subject}", is fixed{release}. '
    "Thank you for telling us about it, and for your patience.\n\nIf you still see it, just reply "
    "to this message."
)


class Replies(_Strict):
    """The `replies` section: answering customers through their report's own channel."""

    # Reports from channels that cannot take a reply (Slack, a webhook without notify_url) are
    # answered by e-mail when the customer's address is known.
    email_fallback: bool = False
    # Where customers' answers to e-mailed replies go (the support mailbox the IMAP intake reads);
    # default the mailbox's address (`email.user`, when it is one), else SUPPORT_EMAIL_FROM.
    reply_to: str | None = None
    webhooks: dict[str, ReplyWebhook] = Field(default_factory=dict)
    # The message of "Tell all N customers…", editable before sending: {name}, {subject}, {release}.
    fix_notice: str = DEFAULT_FIX_NOTICE


class Csat(_Strict):
    """The `csat` section: one "How did we do?" question to each customer told of a fix."""

    enabled: bool = False
    # How long after the customer is told the question goes out.
    delay_hours: float = Field(default=24, ge=0, le=24 * 30)
    # A score at or below this posts to the card's thread.
    low_score: int = Field(default=2, ge=0, le=5)
    # How long the links in the question work.
    expires_days: int = Field(default=14, ge=1, le=365)
    question: str = Field(default="How did we do?", min_length=1, max_length=200)


class Matching(_Strict):
    """The `matching` section: how reports are grouped into problems (README: Matching).

    `suggest` and `auto_merge` are confidences between 0 and 1 (`bot.services.problem_search.Match`):
    a new report's card says "looks like #N" at `suggest` or above; at `auto_merge` or above it joins
    that problem at intake instead of getting a card (off: null). Both defaults were chosen on held-out
    labelled data (docs/benchmarks.md)."""

    suggest: float = Field(default=0.56, ge=0, le=1)
    auto_merge: float | None = Field(default=None, gt=0, le=1)
    # Reports merged at intake are announced in the problem's thread, and its card's count edited, at
    # most this often (a storm of reports: one card, a line every few seconds).
    batch_seconds: float = Field(default=5.0, ge=0, le=300)
    # A canonical word and the words or phrases that mean the same (replaces the small default list).
    synonyms: dict[str, list[str]] | None = None
    # The language of reports too short to tell (ISO 639-1: en, es, pt, fr, de, it, nl).
    language: str = "en"

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        from bot.services.text_analysis import LANGUAGES

        if value not in LANGUAGES:
            raise ValueError(f"{value!r} is not a language matching knows ({', '.join(sorted(LANGUAGES))})")
        return value

    @model_validator(mode="after")
    def _merge_above_suggest(self) -> Matching:
        if self.auto_merge is not None and self.auto_merge < self.suggest:
            raise ValueError("auto_merge must be at least suggest (a report merged is one first suggested)")
        return self


class SlackIntake(_Strict):
    reaction: str = "ticket"
    monitored_channels: list[str] = Field(default_factory=list)

    @field_validator("reaction")
    @classmethod
    def _emoji_name(cls, value: str) -> str:
        return value.strip().strip(":")

    @field_validator("monitored_channels")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return [_channel(v) or "" for v in value]


class Deliveries(_Strict):
    """How the outbox retries Slack posts."""

    base_backoff_seconds: float = Field(default=2.0, gt=0)
    max_backoff_seconds: float = Field(default=300, gt=0)
    stuck_after_attempts: int = Field(default=5, ge=1)
    stuck_after_seconds: int = Field(default=600, ge=1)
    # Slack takes about one message a second per channel, with short bursts
    # (https://docs.slack.dev/apis/web-api/rate-limits); posts beyond are paced, not sent to fail.
    posts_per_second_per_channel: float = Field(default=1.0, gt=0)
    post_burst: int = Field(default=4, ge=1)
    # How long a claimed delivery is reserved for the process running it (renewed while it runs): after
    # a crash, how soon another process takes it over.
    lease_seconds: float = Field(default=60.0, gt=0)


class EmailIntake(_Strict):
    """The support mailbox read over IMAP. The password comes from IMAP_PASSWORD, never from here."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    # Implicit TLS (port 993) or, on a trusted network or for tests, none. STARTTLS is not offered:
    # the IMAP client library does not implement it, and implicit TLS is what RFC 8314 recommends.
    security: Literal["tls", "none"] = "tls"
    user: str
    folder: str = "INBOX"
    processed: Literal["mark_seen", "move"] = "mark_seen"
    move_to: str | None = None
    poll_seconds: float = Field(default=60, gt=0)
    idle: bool = True
    max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    subject_thread_days: int = Field(default=30, ge=0)

    @model_validator(mode="after")
    def _move_needs_folder(self) -> EmailIntake:
        if self.processed == "move" and not self.move_to:
            raise ValueError("move_to is required when processed is move")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)


def _default_priorities() -> dict[Severity, str]:
    return {
        Severity.URGENT: "Highest",
        Severity.HIGH: "High",
        Severity.NORMAL: "Medium",
        Severity.LOW: "Low",
    }


class JiraConfig(_Strict):
    """Where and how "Escalate to Jira" creates issues. Credentials come from the environment."""

    project: str | None = None  # used when the issue's route names no jira_project
    issue_type: str = "Bug"
    priority_map: dict[Severity, str] = Field(default_factory=_default_priorities)
    # Resolutions that mean "we decided not to do it": they ask for a rationale support can reuse.
    wont_do_resolutions: list[str] = Field(
        default_factory=lambda: ["Won't Do", "Won't Fix", "Declined", "Not a bug"]
    )
    # Jira account id or e-mail → Slack user id, to ask a Jira assignee for a won't-do rationale.
    users: dict[str, str] = Field(default_factory=dict)
    # Attempts (through the outbox) before an escalation shows as failed with a Retry button.
    max_attempts: int = Field(default=5, ge=1)
    # New customers merged into an escalated problem are told to Jira in one comment per this window.
    comment_batch_seconds: float = Field(default=60, ge=0)
    # After a creation whose answer was lost, wait this long before searching Jira for it again:
    # Jira Cloud's search can take seconds to show a new issue.
    search_lag_seconds: float = Field(default=30, ge=0)

    @field_validator("project")
    @classmethod
    def _project_key(cls, value: str | None) -> str | None:
        if value is not None and not PROJECT_KEY.fullmatch(value):
            raise ValueError(f"{value!r} is not a Jira project key (like SUP or WEB2)")
        return value

    @field_validator("users")
    @classmethod
    def _slack_users(cls, value: dict[str, str]) -> dict[str, str]:
        for jira_user, slack_user in value.items():
            if not SLACK_USER.fullmatch(slack_user):
                raise ValueError(f"{jira_user}: {slack_user!r} is not a Slack user id (like U0123ABCD)")
        return {k.strip().lower() if "@" in k else k.strip(): v for k, v in value.items()}

    def is_wont_do(self, resolution: str | None) -> bool:
        return resolution is not None and _fold(resolution) in {_fold(r) for r in self.wont_do_resolutions}


def _fold(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _people(value: Any) -> Any:
    """Slack users (U…/W…) and user groups (S…), as one id or a list."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if not (SLACK_USER.fullmatch(text) or USER_GROUP_ID.match(text)):
            raise ValueError(f"{text!r} is not a Slack user id (U0123ABCD) or user group id (S0123ABCD)")
        out.append(text)
    return out


class SessionRule(_Strict):
    """A recurring session: every `weekday` at `time` (wall clock, configured zone) for `duration`."""

    weekday: Weekday
    time: Time
    duration: Duration = timedelta(hours=1)

    @field_validator("weekday", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return parse_weekday(value)

    _time = field_validator("time", mode="before")(parse_hh_mm)

    @field_validator("duration")
    @classmethod
    def _sensible(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=5) <= value <= timedelta(hours=12):
            raise ValueError("a session lasts between 5 minutes and 12 hours")
        return value


class Programme(_Strict):
    """A shadowing programme: who hosts, when, how many seats, where, and where it is announced."""

    id: str
    name: str
    hosts: list[str]
    sessions: list[SessionRule] = Field(default_factory=list)
    capacity: int = Field(default=2, ge=1, le=100)
    where: str | None = Field(default=None, max_length=500)
    channel: str
    waitlist: bool = True
    onboarding: bool = True  # offered in new hires' first-week plans

    _hosts = field_validator("hosts", mode="before")(_people)
    _channel_id = field_validator("channel")(_channel)

    @field_validator("id", mode="before")
    @classmethod
    def _slug(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if not PROGRAMME_ID.fullmatch(text):
            raise ValueError(f"{value!r}: use lower-case letters, digits and dashes (like support-l1)")
        return text

    @field_validator("hosts")
    @classmethod
    def _some_hosts(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one host (Slack user ids or a user group id)")
        return value


class Fairness(_Strict):
    """Everyone in `group` shadows `target_hours` a quarter; `teams` groups the stats."""

    group: list[str]
    target_hours: float = Field(default=2, gt=0, le=500)
    teams: dict[str, list[str]] = Field(default_factory=dict)
    nudge_day: int = Field(default=1, ge=1, le=28)  # day of the month for the nudge DMs
    nudge_time: Time = time(10, 0)

    _group = field_validator("group", mode="before")(_people)
    _nudge_time = field_validator("nudge_time", mode="before")(parse_hh_mm)

    @field_validator("teams", mode="before")
    @classmethod
    def _team_people(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {str(name): _people(members) for name, members in value.items()}


class Onboarding(_Strict):
    days: int = Field(default=5, ge=1, le=10)  # working days in a first-week plan


class ShadowingConfig(_Strict):
    """The `shadowing` section: programmes, the weekly open-sessions post, reminders, fairness."""

    programmes: list[Programme] = Field(default_factory=list)
    weekly_post: WeeklyAt = WeeklyAt(weekday="mon", time=time(9, 0))
    horizon_days: int = Field(default=28, ge=7, le=120)  # how far ahead recurring sessions are listed
    reminders: list[Duration] = Field(default_factory=lambda: [timedelta(hours=24), timedelta(minutes=15)])
    fairness: Fairness | None = None
    onboarding: Onboarding = Field(default_factory=Onboarding)
    # A Slack user group (S…) of managers: they may onboard others, as admins and hosts may.
    managers_group: str | None = None

    @field_validator("managers_group")
    @classmethod
    def _user_group(cls, value: str | None) -> str | None:
        if value is not None and not USER_GROUP_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack user group id (S0123ABCD)")
        return value

    @field_validator("programmes")
    @classmethod
    def _unique_ids(cls, value: list[Programme]) -> list[Programme]:
        seen: set[str] = set()
        for programme in value:
            if programme.id in seen:
                raise ValueError(f"programme id {programme.id!r} is used twice")
            seen.add(programme.id)
        return value

    def programme(self, programme_id: str) -> Programme | None:
        return next((p for p in self.programmes if p.id == programme_id), None)


class ReleasesConfig(_Strict):
    """The `releases` section: when the heads-up and the watch come, and which Jira projects feed it."""

    heads_up: Duration = timedelta(hours=24)
    watch: Duration = timedelta(hours=48)
    jira_projects: list[str] = Field(default_factory=list)
    release_time: Time = time(10, 0)  # the time of day for a Jira version that only has a date
    # An area "rose" when it had at least `rise_min` new complaints since the release and at least
    # `rise_ratio` times as many as in the same period before it.
    rise_ratio: float = Field(default=1.5, gt=1)
    rise_min: int = Field(default=3, ge=1)

    _release_time = field_validator("release_time", mode="before")(parse_hh_mm)

    @field_validator("jira_projects")
    @classmethod
    def _project_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not PROJECT_KEY.fullmatch(key):
                raise ValueError(f"{key!r} is not a Jira project key (like SUP or WEB2)")
        return value


class SpikeRule(_Strict):
    """A product area or tag "spikes" when its volume in the last 24 hours or 7 days is at least
    `min_count`, at least `ratio` times what its trailing 8-week baseline predicts for that span, and
    at least `z` standard deviations above it (Poisson: the deviation of a count is its square root)."""

    min_count: int = Field(default=5, ge=1)
    ratio: float = Field(default=3.0, gt=1)
    z: float = Field(default=3.0, gt=0)


class DigestConfig(_Strict):
    """The `digest` section: when the weekly digest is posted (to `channels.digest`) and how it reads."""

    schedule: WeeklyAt = WeeklyAt(weekday="mon", time=time(9, 0))
    top_problems: int = Field(default=10, ge=1, le=20)
    spike: SpikeRule = Field(default_factory=SpikeRule)


class AppConfig(_Strict):
    timezone: str = "UTC"
    channels: Channels
    routes: list[Route] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=lambda: list(Severity))
    slack_intake: SlackIntake = Field(default_factory=SlackIntake)
    matching: Matching = Field(default_factory=Matching)
    internal: Internal = Field(default_factory=Internal)
    replies: Replies = Field(default_factory=Replies)
    csat: Csat = Field(default_factory=Csat)
    deliveries: Deliveries = Field(default_factory=Deliveries)
    email: EmailIntake | None = None
    jira: JiraConfig = Field(default_factory=JiraConfig)
    sla: SlaConfig = Field(default_factory=SlaConfig)
    shadowing: ShadowingConfig = Field(default_factory=ShadowingConfig)
    releases: ReleasesConfig = Field(default_factory=ReleasesConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    # Distinct customers at which a problem raises an alert in `channels.alerts`, once per threshold.
    thresholds: list[int] = Field(default_factory=list)
    # Who may add or cancel any shadowing session, manage releases and remove anyone's macro: Slack
    # users or user groups.
    admins: list[str] = Field(default_factory=list)

    # A Slack user group (S…) whose members see the lead view on their Home tab: backlog by age, SLA
    # breaches this week, unclaimed urgent problems. Without it, nobody does.
    leads_group: str | None = None

    _admins = field_validator("admins", mode="before")(_people)

    @field_validator("leads_group", mode="before")
    @classmethod
    def _leads_group(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        if not USER_GROUP_ID.match(text):
            raise ValueError(f"{text!r} is not a Slack user group ID (like S0123ABCD)")
        return text

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from exc
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError("thresholds are numbers of customers, 1 or more (like [5, 20])")
        return sorted(set(value))

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(tag).strip().lower() for tag in value]
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]" if parts else f"[{item}]"]
        else:
            parts.append(item)
    return ".".join(parts)


def parse_config(data: Any, *, origin: str = "configuration") -> AppConfig:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: the top level must be a mapping of keys (timezone, channels, routes, …)"
        )
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _key_path(tuple(first["loc"])) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{origin}: {key}: {message}{more}") from None


def load_config(path: Path) -> AppConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found (set SUPPORTBRIDGE_CONFIG, or copy "
            "supportbridge.example.yml to supportbridge.yml)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_config(data, origin=str(path))
