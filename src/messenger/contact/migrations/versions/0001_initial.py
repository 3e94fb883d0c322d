"""contact-service: users known from `user.created`, and friendships.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from messenger.platform.migrations import create_event_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "friendships",
        sa.Column("user_low", sa.String(32), primary_key=True),
        sa.Column("user_high", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requester_id", sa.String(32), nullable=False),
        sa.Column("requested_at_ms", sa.BigInteger, nullable=False),
        sa.Column("accepted_at_ms", sa.BigInteger, nullable=True),
        sa.CheckConstraint("user_low < user_high", name="ck_friendships_ordered"),
    )
    op.create_index("ix_friendships_user_high", "friendships", ["user_high"])
    create_event_tables()


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_friendships_user_high", table_name="friendships")
    op.drop_table("friendships")
    op.drop_table("users")
