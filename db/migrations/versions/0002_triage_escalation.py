"""merging, Jira escalation, closing the loop, first-response SLAs

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    # batch_alter_table: SQLite cannot alter columns in place; elsewhere these are plain ALTERs.
    with op.batch_alter_table("problems") as batch:
        batch.add_column(sa.Column("rationale", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rationale_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("rationale_at", UTC, nullable=True))
        batch.create_index(batch.f("ix_problems_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("suggestions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sla_level", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index(batch.f("ix_issues_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("escalations") as batch:
        columns: list[tuple[str, sa.types.TypeEngine[Any]]] = [
            ("jira_status_category", sa.String(length=16)),
            ("jira_assignee", sa.String(length=255)),
            ("jira_assignee_account_id", sa.String(length=128)),
            ("jira_assignee_email", sa.String(length=255)),
            ("jira_resolution", sa.String(length=64)),
            ("jira_fix_versions", sa.JSON()),
            ("jira_resolved_at", UTC),
            ("project", sa.String(length=64)),
            ("issue_type", sa.String(length=64)),
            ("priority", sa.String(length=64)),
            ("summary", sa.String(length=255)),
            ("announced_customers", sa.JSON()),
        ]
        for name, type_ in columns:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("slack_messages") as batch:
        batch.add_column(sa.Column("permalink", sa.String(length=2000), nullable=True))
    op.create_table(
        "customer_notices",
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("notified_by", sa.String(length=32), nullable=True),
        sa.Column("notified_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_notices_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["problems.id"],
            name=op.f("fk_customer_notices_problem_id_problems"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("problem_id", "customer_id", name=op.f("pk_customer_notices")),
    )


def downgrade() -> None:
    op.drop_table("customer_notices")
    with op.batch_alter_table("slack_messages") as batch:
        batch.drop_column("permalink")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("attempts")
        for name in [
            "announced_customers",
            "summary",
            "priority",
            "issue_type",
            "project",
            "jira_resolved_at",
            "jira_fix_versions",
            "jira_resolution",
            "jira_assignee_email",
            "jira_assignee_account_id",
            "jira_assignee",
            "jira_status_category",
        ]:
            batch.drop_column(name)
    with op.batch_alter_table("issues") as batch:
        batch.drop_index(batch.f("ix_issues_updated_at"))
        batch.drop_column("sla_level")
        batch.drop_column("suggestions")
    with op.batch_alter_table("problems") as batch:
        batch.drop_index(batch.f("ix_problems_updated_at"))
        batch.drop_column("rationale_at")
        batch.drop_column("rationale_by")
        batch.drop_column("rationale")
