"""End-to-end fixtures: `messenger up` as real processes, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from messenger.platform.config import Settings
from tests.conftest import base_database_url, drop_service_databases
from tests.e2e.harness import System


def cleanup_databases(system: System) -> None:
    if system.database_url:
        settings = Settings(database_url=system.database_url, _env_file=None)  # type: ignore[call-arg]
        asyncio.run(drop_service_databases(settings))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One running system shared by a module's tests; each test makes its own users."""
    value = System(tmp_path_factory.mktemp("up"), database_url=base_database_url())
    value.start()
    try:
        yield value
    finally:
        value.stop()
        cleanup_databases(value)


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.url, timeout=15) as value:
        yield value
