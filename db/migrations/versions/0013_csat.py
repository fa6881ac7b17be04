"""Satisfaction surveys: one "How did we do?" per customer and problem, with its score and comment.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "csat_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("expires_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answered_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("commented_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note_channel", sa.String(length=32), nullable=True),
        sa.Column("note_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("problem_id", "customer_id", name="uq_csat_surveys_problem_customer"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_csat_surveys_problem_id", "csat_surveys", ["problem_id"])
    op.create_index("ix_csat_surveys_answered_at", "csat_surveys", ["answered_at"])


def downgrade() -> None:
    op.drop_table("csat_surveys")
