"""Fixtures shared by integration and end-to-end tests: real NATS, real databases.

SQLite in a temp dir by default; PostgreSQL when MESSENGER_TEST_DATABASE_URL is set
(e.g. postgresql://postgres@127.0.0.1:5432/postgres), with uniquely named databases that
are dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from messenger.platform.config import Settings
from messenger.platform.db import database_url, drop_database
from messenger.platform.migrations import DATABASE_SERVICES
from messenger.platform.nats_server import EmbeddedNats
from messenger.platform.process import free_port

TEST_DATABASE_URL = os.environ.get("MESSENGER_TEST_DATABASE_URL")


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh nats-server (JetStream) on a free port, for this test alone."""
    server = EmbeddedNats(tmp_path / "nats")
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


def base_database_url() -> str | None:
    """A unique database name on the test PostgreSQL server, or None for SQLite."""
    if not TEST_DATABASE_URL:
        return None
    root, _, _ = TEST_DATABASE_URL.rpartition("/")
    return f"{root}/mt_{uuid.uuid4().hex[:12]}"


def make_settings(data_dir: Path, nats: str | None, database: str | None) -> Settings:
    return Settings(
        data_dir=data_dir,
        nats_url=nats,
        database_url=database,
        gateway_port=free_port(),
        auth_addr=f"127.0.0.1:{free_port()}",
        session_addr=f"127.0.0.1:{free_port()}",
        profile_addr=f"127.0.0.1:{free_port()}",
        contact_addr=f"127.0.0.1:{free_port()}",
        messaging_addr=f"127.0.0.1:{free_port()}",
        log_format="console",
        _env_file=None,  # type: ignore[call-arg]
    )


async def drop_service_databases(settings: Settings) -> None:
    for service in DATABASE_SERVICES:
        await drop_database(database_url(settings, service))


@pytest.fixture
async def settings(tmp_path: Path, nats_url: str) -> AsyncIterator[Settings]:
    """Settings for one test: its own NATS, its own databases, free ports everywhere."""
    value = make_settings(tmp_path / "data", nats_url, base_database_url())
    try:
        yield value
    finally:
        await drop_service_databases(value)
