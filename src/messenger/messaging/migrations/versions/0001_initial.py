"""messaging-service: conversations, messages, read positions.

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
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("member_low", sa.String(32), nullable=False),
        sa.Column("member_high", sa.String(32), nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("last_message_at_ms", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("member_low", "member_high", name="uq_conversations_members"),
    )
    op.create_index("ix_conversations_member_high", "conversations", ["member_high"])
    op.create_table(
        "messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("sender_id", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger, nullable=False),
        sa.Column("client_message_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
        sa.UniqueConstraint(
            "conversation_id", "sender_id", "client_message_id", name="uq_messages_client_id"
        ),
    )
    op.create_table(
        "read_positions",
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("last_seen_seq", sa.BigInteger, nullable=False),
    )
    create_event_tables()


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("read_positions")
    op.drop_table("messages")
    op.drop_index("ix_conversations_member_high", table_name="conversations")
    op.drop_table("conversations")
