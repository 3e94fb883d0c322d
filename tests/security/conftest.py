"""The attack suite's target: one `messenger up` (SQLite, or PostgreSQL when
MESSENGER_TEST_DATABASE_URL is set) tuned for short throttle windows, plus a second
auth-service and a second gateway that join it through `addresses.env`, as another
machine would. The second gateway talks to the second auth-service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from messenger.platform.config import Settings
from tests.conftest import base_database_url, drop_service_databases
from tests.security.cluster import Cluster


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    value = Cluster(tmp_path_factory.mktemp("security"), database_url=base_database_url())
    value.start()
    try:
        yield value
    finally:
        value.stop()
        if value.database_url:
            settings = Settings(database_url=value.database_url, _env_file=None)  # type: ignore[call-arg]
            asyncio.run(drop_service_databases(settings))


@pytest.fixture
async def gw1(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=15) as client:
        yield client


@pytest.fixture
async def gw2(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.second_gateway.url, timeout=15) as client:
        yield client
