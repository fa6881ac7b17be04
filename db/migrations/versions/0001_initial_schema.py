"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _primary_issue_fk_inline() -> list[sa.ForeignKeyConstraint]:
    # SQLite cannot add a constraint to an existing table, but accepts a forward reference.
    if not _is_sqlite():
        return []
    return [
        sa.ForeignKeyConstraint(
            ["primary_issue_id"],
            ["issues.id"],
            name=op.f("fk_problems_primary_issue_id_issues"),
            ondelete="SET NULL",
        )
    ]


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_key", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("plan", sa.String(length=255), nullable=True),
        sa.Column("slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("identity_key", name=op.f("uq_customers_identity_key")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("primary_issue_id", sa.Integer(), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", db.models.UTCDateTime(timezone=True), nullable=True),
        *_primary_issue_fk_inline(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problems")),
    )
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_problems_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_problems_status"), ["status"], unique=False)

    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("jira_key", sa.String(length=64), nullable=True),
        sa.Column("jira_url", sa.String(length=2000), nullable=True),
        sa.Column("jira_status", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"], ["problems.id"], name=op.f("fk_escalations_problem_id_problems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.UniqueConstraint("jira_key", name=op.f("uq_escalations_jira_key")),
        sa.UniqueConstraint("problem_id", name=op.f("uq_escalations_problem_id")),
    )
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("product_area", sa.String(length=255), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("permalink", sa.String(length=2000), nullable=True),
        sa.Column("origin_channel", sa.String(length=32), nullable=True),
        sa.Column("origin_ts", sa.String(length=32), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("reported_by", sa.String(length=32), nullable=True),
        sa.Column("reported_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=32), nullable=True),
        sa.Column("resolved_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_issues_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.id"], name=op.f("fk_issues_problem_id_problems")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_issues_source_external_id")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issues_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_problem_id"), ["problem_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_product_area"), ["product_area"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_received_at"), ["received_at"], unique=False)
        batch_op.create_index("ix_issues_status_received_at", ["status", "received_at"], unique=False)

    if not _is_sqlite():
        # problems and issues refer to each other: PostgreSQL needs the second reference added later.
        op.create_foreign_key(
            op.f("fk_problems_primary_issue_id_issues"),
            "problems",
            "issues",
            ["primary_issue_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "inbound_deliveries",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("received_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_inbound_deliveries_issue_id_issues"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_inbound_deliveries")),
    )
    with op.batch_alter_table("inbound_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_deliveries_received_at"), ["received_at"], unique=False)

    op.create_table(
        "issue_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_events_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_events")),
    )
    with op.batch_alter_table("issue_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_issue_events_issue_id"), ["issue_id"], unique=False)

    op.create_table(
        "issue_tags",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_tags_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "tag", name=op.f("pk_issue_tags")),
    )
    with op.batch_alter_table("issue_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "slack_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_slack_messages_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_messages")),
        sa.UniqueConstraint("channel", "ts", name=op.f("uq_slack_messages_channel_ts")),
        sa.UniqueConstraint("purpose", "issue_id", name=op.f("uq_slack_messages_purpose_issue_id")),
    )
    with op.batch_alter_table("slack_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_messages_issue_id"), ["issue_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_messages_issue_id"))

    op.drop_table("slack_messages")
    with op.batch_alter_table("issue_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_tags_tag"))

    op.drop_table("issue_tags")
    with op.batch_alter_table("issue_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_events_issue_id"))
        batch_op.drop_index(batch_op.f("ix_issue_events_created_at"))

    op.drop_table("issue_events")
    with op.batch_alter_table("inbound_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_deliveries_received_at"))

    op.drop_table("inbound_deliveries")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index("ix_issues_status_received_at")
        batch_op.drop_index(batch_op.f("ix_issues_received_at"))
        batch_op.drop_index(batch_op.f("ix_issues_product_area"))
        batch_op.drop_index(batch_op.f("ix_issues_problem_id"))
        batch_op.drop_index(batch_op.f("ix_issues_customer_id"))

    if not _is_sqlite():
        op.drop_constraint(op.f("fk_problems_primary_issue_id_issues"), "problems", type_="foreignkey")
    op.drop_table("issues")
    op.drop_table("escalations")
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_problems_status"))
        batch_op.drop_index(batch_op.f("ix_problems_created_at"))

    op.drop_table("problems")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_next_attempt_at")

    op.drop_table("outbox")
    op.drop_table("customers")
