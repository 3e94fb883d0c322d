"""Accounts, email tokens, mail outbox, login failures, and the event tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
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
        "accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(1024), nullable=False),
        sa.Column("email_lower", sa.String(1024), nullable=False, unique=True),
        sa.Column("username", sa.String(32), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("email_verified", sa.Boolean, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "email_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
        sa.Column("used_at_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_email_tokens_user_id", "email_tokens", ["user_id"])
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(1024), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at_ms", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_mail_outbox_due", "mail_outbox", ["sent_at_ms", "next_attempt_at_ms"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("failed_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_failures_key", "login_failures", ["key_hash", "failed_at_ms"])
    create_event_tables()


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("mail_outbox")
    op.drop_table("email_tokens")
    op.drop_table("accounts")
    op.drop_table("inbox")
    op.drop_table("outbox")
