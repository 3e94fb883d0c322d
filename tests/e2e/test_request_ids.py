"""The request's X-Request-Id reaches the log lines of every service it touches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.e2e.harness import System, eventually, register, unique

pytestmark = [pytest.mark.e2e, pytest.mark.backend_neutral]


@pytest.fixture
def chatty_system(tmp_path: Path) -> Iterator[System]:
    value = System(tmp_path, log_level="info")
    value.start()
    try:
        yield value
    finally:
        value.stop()


async def test_request_id_is_in_every_services_log(chatty_system: System) -> None:
    system = chatty_system
    request_id = unique("trace")
    async with httpx.AsyncClient(base_url=system.url, timeout=15) as client:
        ada = await register(client, "ada")
        response = await client.post(
            "/v1/auth/login",
            json={"login": ada.username, "password": ada.password},
            headers={"X-Request-Id": request_id},
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == request_id
        token = response.json()["access_token"]
        profile = await client.get(
            "/v1/profiles/me",
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id},
        )
        assert profile.status_code in (200, 404)

    def services_that_logged() -> set[object]:
        found = set()
        for line in system.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("request_id") == request_id:
                found.add(record.get("service"))
        return found

    # A service writes its line after its response is sent: give the last one a moment.
    async def all_logged() -> bool:
        return {"gateway", "auth", "session", "profile"} <= services_that_logged()

    await eventually(all_logged, timeout=5)


async def test_tokens_in_urls_stay_out_of_the_logs(chatty_system: System) -> None:
    """Browsers put the access token in the WebSocket's query; uvicorn logs that line."""
    system = chatty_system
    async with httpx.AsyncClient(base_url=system.url, timeout=15) as client:
        ada = await register(client, "ada")
        response = await client.post(
            "/v1/auth/login", json={"login": ada.username, "password": ada.password}
        )
        token = response.json()["access_token"]
    ws_url = system.url.replace("http://", "ws://") + f"/v1/ws?access_token={token}"
    async with connect(ws_url) as socket:
        assert json.loads(await socket.recv()) == {"type": "ready"}

    def log_text() -> str:
        return system.log_path.read_text(errors="replace")

    async def socket_logged() -> bool:
        return "access_token=[redacted]" in log_text()

    await eventually(socket_logged, timeout=5)
    assert token not in log_text()
    assert token.split(".")[2] not in log_text()
