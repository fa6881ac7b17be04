"""shadowing rotations, releases, posted messages

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "posted_messages",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_posted_messages")),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("release_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("highlights", sa.Text(), nullable=True),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("jira_project", sa.String(length=64), nullable=True),
        sa.Column("jira_version_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("jira_version_id", name=op.f("uq_releases_jira_version_id")),
    )
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_releases_release_at"), ["release_at"], unique=False)

    op.create_table(
        "shadow_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme", sa.String(length=32), nullable=False),
        sa.Column("starts_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("hosts", sa.JSON(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("cancelled_by", sa.String(length=32), nullable=True),
        sa.Column("cancelled_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_sessions")),
        sa.UniqueConstraint("programme", "starts_at", name=op.f("uq_shadow_sessions_programme_starts_at")),
    )
    with op.batch_alter_table("shadow_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shadow_sessions_starts_at"), ["starts_at"], unique=False)

    op.create_table(
        "shadow_bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("booked_by", sa.String(length=32), nullable=True),
        sa.Column("plan", sa.String(length=16), nullable=True),
        sa.Column("queued_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("offered_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("feedback", sa.JSON(), nullable=True),
        sa.Column("feedback_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["shadow_sessions.id"],
            name=op.f("fk_shadow_bookings_session_id_shadow_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_bookings")),
        sa.UniqueConstraint("session_id", "user_id", name=op.f("uq_shadow_bookings_session_id_user_id")),
    )
    with op.batch_alter_table("shadow_bookings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shadow_bookings_session_id"), ["session_id"], unique=False)
        batch_op.create_index("ix_shadow_bookings_user_id_status", ["user_id", "status"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("shadow_bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_shadow_bookings_user_id_status")
        batch_op.drop_index(batch_op.f("ix_shadow_bookings_session_id"))

    op.drop_table("shadow_bookings")
    with op.batch_alter_table("shadow_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shadow_sessions_starts_at"))

    op.drop_table("shadow_sessions")
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_releases_release_at"))

    op.drop_table("releases")
    op.drop_table("posted_messages")
