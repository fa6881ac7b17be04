"""The data model.

Shaped for the whole product, not just intake:

- every **issue** (one customer report from one channel) belongs to a **problem**; a new report starts
  its own problem, and merging duplicates moves reports under one problem. Complaint frequency is the
  number of *distinct customers* behind a problem's issues, so customers are rows of their own, keyed
  by e-mail when known so the same person over two channels counts once;
- tags, severity, claims (who, when) and the first-response and resolution timestamps live on the issue;
- an **escalation** links a problem to its one Jira issue;
- every Slack message the bot posted is remembered (channel, ts) so any later change re-renders it;
- an **outbox** holds every outbound call (Slack posts, later Jira calls) until it succeeded, and
  **inbound deliveries** remember webhook and event ids already taken, so retries have one effect.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_key: Mapped[str] = mapped_column(String(320), unique=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    plan: Mapped[str | None] = mapped_column(String(255))
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Problem(Base):
    """A customer problem: one or more reports (issues) that are the same thing."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    # open | resolved | merged (its reports moved into another problem; it comes back on unmerge)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    primary_issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", use_alter=True, ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    resolved_at: Mapped[datetime | None]
    # Why it will not be done, written once by product for support to reuse with customers.
    rationale: Mapped[str | None] = mapped_column(Text)
    rationale_by: Mapped[str | None] = mapped_column(String(32))
    rationale_at: Mapped[datetime | None]

    issues: Mapped[list[Issue]] = relationship(
        back_populates="problem", foreign_keys="Issue.problem_id", lazy="raise"
    )


class Issue(Base):
    """One report from one customer through one channel."""

    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_issues_status_received_at", "status", "received_at"),
        # A problem's first report and its reports in a window (the digest, thresholds) from the index.
        # It also serves every lookup by problem_id alone.
        Index("ix_issues_problem_id_received_at", "problem_id", "received_at"),
        # Partial: an issue is inserted without either moment, and intake pays nothing for these.
        Index(
            "ix_issues_first_response_at",
            "first_response_at",
            postgresql_where=text("first_response_at IS NOT NULL"),
            sqlite_where=text("first_response_at IS NOT NULL"),
        ),
        Index(
            "ix_issues_resolved_at",
            "resolved_at",
            postgresql_where=text("resolved_at IS NOT NULL"),
            sqlite_where=text("resolved_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(255))
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"))
    # None: logged from a Slack message with no customer named yet ("No customer yet" on the card).
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # False for a report without a customer or from a colleague (`internal.email_domains`): every
    # distinct-customer count goes through `db.queries.customers.counted_customer`, which reads this.
    counts_as_customer: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    product_area: Mapped[str | None] = mapped_column(String(255), index=True)
    severity: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="open")
    url: Mapped[str | None] = mapped_column(String(2000))
    permalink: Mapped[str | None] = mapped_column(String(2000))
    origin_channel: Mapped[str | None] = mapped_column(String(32))
    origin_ts: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    reported_by: Mapped[str | None] = mapped_column(String(32))  # the Slack user who logged it
    reported_at: Mapped[datetime] = mapped_column()  # when the customer wrote (or when we heard)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    # The Slack user who gave it (claimed, replied in the card's thread, answered the customer).
    first_response_by: Mapped[str | None] = mapped_column(String(32))
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None]
    # Similar open problems found when the card was first posted: [{"problem": id, "score": float}].
    suggestions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # First-response SLA reminders already sent: 0 none, 1 the reminder, 2 the on-duty escalation.
    sla_level: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    problem: Mapped[Problem] = relationship(back_populates="issues", foreign_keys=[problem_id], lazy="raise")
    customer: Mapped[Customer | None] = relationship(lazy="raise")
    tags: Mapped[list[IssueTag]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="IssueTag.tag"
    )


class ReportTerms(Base):
    """A report's search terms (`bot.services.text_analysis`), written with the report at intake.

    The full-text index over them is each database's own and is made by the migration: on SQLite an
    FTS5 table `report_fts` kept by a trigger; on PostgreSQL a `tsvector` column `tsv` with a GIN
    index. Neither is in the model (the ORM never reads them; `bot.services.problem_search` does)."""

    __tablename__ = "report_terms"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    terms: Mapped[str] = mapped_column(Text)  # space-separated, the subject's twice
    length: Mapped[int] = mapped_column(Integer)
    # The report's sentence embedding (`bot.services.embedding`, float16), when the model is installed.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)


class SearchTerm(Base):
    """How many reports hold each term (BM25's document frequency), kept at intake."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    reports: Mapped[int] = mapped_column(Integer)


class IssueTag(Base):
    __tablename__ = "issue_tags"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class IssueEvent(Base):
    """The history of an issue: who did what, when. Also what a card's thread notes come from."""

    __tablename__ = "issue_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(32))  # Slack user id, or None for the system
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Escalation(Base):
    """The one Jira issue of a problem (unique per problem: the row is the lock against a second one)."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), unique=True)
    # pending (being created) | created | linked (an existing issue) | failed | unlinked (deleted in Jira)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    jira_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    jira_url: Mapped[str | None] = mapped_column(String(2000))
    jira_status: Mapped[str | None] = mapped_column(String(64))
    jira_status_category: Mapped[str | None] = mapped_column(String(16))
    jira_assignee: Mapped[str | None] = mapped_column(String(255))
    jira_assignee_account_id: Mapped[str | None] = mapped_column(String(128))
    jira_assignee_email: Mapped[str | None] = mapped_column(String(255))
    jira_resolution: Mapped[str | None] = mapped_column(String(64))
    jira_fix_versions: Mapped[list[str] | None] = mapped_column(JSON)
    jira_resolved_at: Mapped[datetime | None]
    jira_updated_at: Mapped[datetime | None]  # Jira's own time of the state stored: orders updates
    # What the person asked for in "Escalate with details…"; None means "from the card and config".
    project: Mapped[str | None] = mapped_column(String(64))
    issue_type: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(String(255))
    requested_by: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # Customers the Jira issue already names (in its description or a later comment).
    announced_customers: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerNotice(Base):
    """A customer told about a problem's resolution (closing the loop), and by whom."""

    __tablename__ = "customer_notices"

    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    notified_by: Mapped[str | None] = mapped_column(String(32))
    notified_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackMessage(Base):
    """A message the bot posted, so it can be re-rendered in place later."""

    __tablename__ = "slack_messages"
    __table_args__ = (UniqueConstraint("purpose", "issue_id"), UniqueConstraint("channel", "ts"))

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))  # "issue_card", "customer_list", ...
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(2000))  # asked of Slack once, when first needed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxItem(Base):
    """A durable outbound call. Committed with the change that caused it; a delivery loop sends it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped when the same pending work is asked for again while in flight: the sender marks the
    # item done only if the revision it sent is still current, so a late change is never lost.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # The last attempt failed in a way that does not say the call was not carried out (a timeout, a
    # dropped connection): the next one looks for its effect before making it again.
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None]


class InboundDelivery(Base):
    """An inbound webhook delivery or Slack event already taken (by its sender's id)."""

    __tablename__ = "inbound_deliveries"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ScheduledRun(Base):
    """A scheduled job's run for one period or target (`once`): what makes scheduled sends exactly once."""

    __tablename__ = "scheduled_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(128), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShadowSession(Base):
    """One shadowing session: from a programme's recurring rule (made ahead of time) or added by hand."""

    __tablename__ = "shadow_sessions"
    __table_args__ = (UniqueConstraint("programme", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    capacity: Mapped[int] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(500))
    hosts: Mapped[list[str] | None] = mapped_column(JSON)  # None: the programme's hosts
    origin: Mapped[str] = mapped_column(String(16), default="recurring")  # recurring | added
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | cancelled
    created_by: Mapped[str | None] = mapped_column(String(32))
    cancelled_by: Mapped[str | None] = mapped_column(String(32))
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ShadowBooking(Base):
    """A person's place in a session: booked, on the waitlist (in `queued_at` order) or cancelled.
    One row per person and session; signing up again after cancelling reuses it."""

    __tablename__ = "shadow_bookings"
    __table_args__ = (
        UniqueConstraint("session_id", "user_id"),
        Index("ix_shadow_bookings_user_id_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("shadow_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # booked | waitlisted | cancelled
    booked_by: Mapped[str | None] = mapped_column(String(32))  # someone else: an onboarding plan
    plan: Mapped[str | None] = mapped_column(String(16))  # "onboarding" for a first-week plan
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    offered_at: Mapped[datetime | None]  # the seat is offered to anyone who takes it ("swap")
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feedback_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Release(Base):
    """A release support should know about: announced ahead, on the day, and watched afterwards."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(128))
    release_at: Mapped[datetime] = mapped_column(index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    highlights: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000))
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16), default="slack")  # slack | jira
    jira_project: Mapped[str | None] = mapped_column(String(64))
    jira_version_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | released | cancelled
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PostedMessage(Base):
    """A message a scheduled job or a feature posted outside issue cards, by a key naming what it is
    ("shadow-week:l1:2026-11-23", "release:4:day:C0123"), so it is posted once and can be edited or
    replied to later."""

    __tablename__ = "posted_messages"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """An alert raised once: a problem reaching a threshold of distinct customers (`threshold`,
    subject "problem:42", level "5"), or a product area or tag spiking (`spike`, subject "area:billing"
    or "tag:export", level "24h" or "7d"). A spike's row is kept and `cleared_at` set when the volume is
    back to normal, so the next spike of the same subject is a new alert."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("kind", "subject", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(16))
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    observed: Mapped[int] = mapped_column(Integer)  # customers (threshold) or reports (spike)
    expected: Mapped[float | None]  # a spike's baseline expectation for the span
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    cleared_at: Mapped[datetime | None]


class DigestDaily(Base):
    """The digest's daily roll-ups: per UTC day, how many reports a measure counts under a name.

    Measures: `received` (every report, name ''), `source`, `area` (the product area), `area_none`
    (reports with no area, name ''), `tag`, `open` (reports received that day and open now, name '')
    and `resolved` (reports resolved that day, name ''). Kept by triggers on `issues` and `issue_tags`
    (migration 0014), so every write of a report, whatever the code path, counts in its own
    transaction (on PostgreSQL as rows of `digest_daily_delta`, folded in here every minute);
    `bot.services.digest` reads whole days from here plus the unfolded deltas, and the partial days at
    a window's edges from `issues`."""

    __tablename__ = "digest_daily"

    # Measure first: every read is one measure over a range of days.
    measure: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class CustomerReply(Base):
    """One message to a customer through their report's own channel: a reply written on a card, or a
    fix notice of "Tell all N customers…" (once per customer and problem). Sent by the outbox under the
    key `reply:{id}`; the thread line that shows it is `note_channel`/`note_ts`."""

    __tablename__ = "customer_replies"
    __table_args__ = (
        Index(
            "uq_customer_replies_fix_notice",
            "problem_id",
            "customer_id",
            unique=True,
            postgresql_where=text("purpose = 'fix_notice'"),
            sqlite_where=text("purpose = 'fix_notice'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), default="reply")  # reply | fix_notice
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))  # email | intercom | zendesk | webhook
    text: Mapped[str] = mapped_column(Text)
    sent_by: Mapped[str | None] = mapped_column(String(32))  # the Slack user who sent it
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | failed | replied
    reason: Mapped[str | None] = mapped_column(String(500))  # why it failed, safe to show
    external_id: Mapped[str | None] = mapped_column(String(255))  # Message-ID, part id, comment id
    macro_id: Mapped[int | None] = mapped_column(ForeignKey("macros.id", ondelete="SET NULL"))
    note_channel: Mapped[str | None] = mapped_column(String(32))
    note_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Macro(Base):
    """A saved answer: reusable text for replies, found by name, text and product area."""

    __tablename__ = "macros"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    text: Mapped[str] = mapped_column(Text)
    product_area: Mapped[str | None] = mapped_column(String(255), index=True)
    created_by: Mapped[str | None] = mapped_column(String(32))
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CsatSurvey(Base):
    """One "How did we do?" question to one customer of a problem, once: sent by the outbox (key
    `csat:{id}`) through the report's channel. Only the SHA-256 of its link's secret is kept; the score
    is taken once, an optional comment once within an hour after it."""

    __tablename__ = "csat_surveys"
    __table_args__ = (UniqueConstraint("problem_id", "customer_id", name="uq_csat_surveys_problem_customer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))  # asked through
    channel: Mapped[str] = mapped_column(String(16))  # email | intercom | zendesk | webhook
    state: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | sent | failed
    reason: Mapped[str | None] = mapped_column(String(500))  # why it was not sent, safe to show
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # hex SHA-256 of the secret
    external_id: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    score: Mapped[int | None]
    answered_at: Mapped[datetime | None] = mapped_column(index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    commented_at: Mapped[datetime | None]
    note_channel: Mapped[str | None] = mapped_column(String(32))  # the low-score line in the thread
    note_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The tables, typed as tables, for SQLAlchemy Core statements on hot paths.
customers = cast(Table, Customer.__table__)
problems = cast(Table, Problem.__table__)
issues = cast(Table, Issue.__table__)
issue_tags = cast(Table, IssueTag.__table__)
report_terms = cast(Table, ReportTerms.__table__)
search_terms = cast(Table, SearchTerm.__table__)
issue_events = cast(Table, IssueEvent.__table__)
escalations = cast(Table, Escalation.__table__)
customer_notices = cast(Table, CustomerNotice.__table__)
slack_messages = cast(Table, SlackMessage.__table__)
outbox_items = cast(Table, OutboxItem.__table__)
inbound_deliveries = cast(Table, InboundDelivery.__table__)
scheduled_runs = cast(Table, ScheduledRun.__table__)
shadow_sessions = cast(Table, ShadowSession.__table__)
shadow_bookings = cast(Table, ShadowBooking.__table__)
releases = cast(Table, Release.__table__)
posted_messages = cast(Table, PostedMessage.__table__)
alerts = cast(Table, Alert.__table__)
customer_replies = cast(Table, CustomerReply.__table__)
macros = cast(Table, Macro.__table__)
csat_surveys = cast(Table, CsatSurvey.__table__)
digest_daily = cast(Table, DigestDaily.__table__)

# Changes to `digest_daily` not yet folded into it (PostgreSQL's triggers append them; SQLite's update
# `digest_daily` in place and leave this empty). No key on purpose: concurrent intakes of one day must
# share no row (`bot.services.digest_rollups.fold`).
digest_daily_delta = Table(
    "digest_daily_delta",
    Base.metadata,
    Column("measure", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("name", String(255), nullable=False),
    Column("n", Integer, nullable=False),
)
