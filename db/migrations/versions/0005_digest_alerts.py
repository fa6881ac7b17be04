"""digest: alerts, and indexes for the digest's aggregates

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=True),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=True),
        sa.Column("raised_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["problem_id"], ["problems.id"], name=op.f("fk_alerts_problem_id_problems"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("kind", "subject", "level", name=op.f("uq_alerts_kind_subject_level")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_raised_at"), ["raised_at"], unique=False)

    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index("ix_issues_problem_id_received_at", ["problem_id", "received_at"], unique=False)
        batch_op.drop_index("ix_issues_problem_id")  # the new index serves lookups by problem_id
        batch_op.create_index(
            "ix_issues_first_response_at",
            ["first_response_at"],
            unique=False,
            postgresql_where=sa.text("first_response_at IS NOT NULL"),
            sqlite_where=sa.text("first_response_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_issues_resolved_at",
            ["resolved_at"],
            unique=False,
            postgresql_where=sa.text("resolved_at IS NOT NULL"),
            sqlite_where=sa.text("resolved_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index("ix_issues_resolved_at")
        batch_op.drop_index("ix_issues_first_response_at")
        batch_op.create_index("ix_issues_problem_id", ["problem_id"], unique=False)
        batch_op.drop_index("ix_issues_problem_id_received_at")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_raised_at"))

    op.drop_table("alerts")
