"""issues: customers are customers. A report may have no customer yet (logged from a Slack message
of a workspace member), and `counts_as_customer` says whether its customer is counted anywhere.

Existing Slack-logged reports whose customer is a workspace member (a customer row keyed by a Slack
user id, with no e-mail and no name given in a form) become customer-less; authors from another
workspace (Slack Connect) were never stored as bare workspace ids, so they stay.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("counts_as_customer", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)
    # Slack-logged reports recorded the message's author (a member of our workspace) as the customer.
    op.execute(
        """
        UPDATE issues SET customer_id = NULL, counts_as_customer = false
        WHERE source = 'slack' AND origin_ts IS NOT NULL AND customer_id IN (
            SELECT id FROM customers
            WHERE source = 'slack' AND slack_user_id IS NOT NULL AND email IS NULL
              AND identity_key = 'slack:id:' || slack_user_id
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("counts_as_customer")
    # Customer-less reports keep NULL: there is no author to give back, so customer_id stays nullable.
