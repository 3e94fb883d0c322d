"""Alembic, one migration history per service, on SQLite (batch mode) and PostgreSQL.

Each service's `migrations/env.py` is two lines that call `run_env`; `messenger migrate`
and `messenger up` call `upgrade` for every service.
"""

from __future__ import annotations

import asyncio
from importlib import resources

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.platform.config import Settings
from messenger.platform.db import database_url, ensure_database

DATABASE_SERVICES = ("auth", "session", "profile", "contact", "messaging")


def alembic_config(service: str, url: URL) -> Config:
    config = Config()
    location = resources.files(f"messenger.{service}") / "migrations"
    config.set_main_option("script_location", str(location))
    config.attributes["url"] = url
    config.attributes["service"] = service
    return config


async def upgrade(service: str, url: URL) -> None:
    """Create the database if missing and bring its schema to the newest revision."""
    await ensure_database(url)
    await asyncio.to_thread(command.upgrade, alembic_config(service, url), "head")


async def migrate_all(settings: Settings) -> None:
    for service in DATABASE_SERVICES:
        await upgrade(service, database_url(settings, service))


def run_env(metadata: MetaData) -> None:
    """The body of every service's env.py (online mode only: we always have the database)."""
    config = context.config
    url: URL = config.attributes["url"]
    service: str = config.attributes["service"]

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=f"alembic_version_{service}",
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
                await connection.commit()
                if url.get_backend_name() == "sqlite":
                    # WAL belongs to the file: set here, before any service opens it,
                    # because instances connecting together could not all switch it.
                    await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                    await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def create_event_tables() -> None:
    """The outbox and inbox of `platform.outbox`, for a service's first revision."""
    op.create_table(
        "outbox",
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("published_at_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at_ms", "position"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at_ms", sa.BigInteger, nullable=False),
    )
