"""All six services in-process on free ports (NATS and databases from the shared
fixtures), and a client of the gateway with helpers for accounts."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from messenger.platform.config import Settings
from messenger.platform.db import database_url
from messenger.platform.ids import new_id
from messenger.platform.migrations import DATABASE_SERVICES, upgrade

SERVICES = ("session", "auth", "profile", "contact", "messaging", "gateway")


@dataclass
class User:
    user_id: str
    username: str
    token: str
    session_id: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class System:
    settings: Settings
    http: httpx.AsyncClient

    async def register(self) -> User:
        username = f"u{new_id()[:10]}"
        password = "correct horse battery"
        created = await self.http.post(
            "/v1/auth/register",
            json={"email": f"{username}@example.com", "username": username, "password": password},
        )
        assert created.status_code == 201, created.text
        return await self.login(username, password)

    async def login(self, username: str, password: str = "correct horse battery") -> User:
        answer = await self.http.post(
            "/v1/auth/login", json={"login": username.upper(), "password": password}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return User(
            body["user_id"],
            username,
            body["access_token"],
            body["session_id"],
            body["refresh_token"],
        )


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    for service in DATABASE_SERVICES:
        await upgrade(service, database_url(settings, service))
    tasks = [
        asyncio.create_task(importlib.import_module(f"messenger.{name}.main").serve(settings))
        for name in SERVICES
    ]
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=10) as http:
        try:
            async with asyncio.timeout(30):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)
            yield System(settings, http)
        finally:
            for task in reversed(tasks):
                task.cancel()
            for task in reversed(tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
