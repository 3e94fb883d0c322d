"""Acceptance 5: SIGKILL to every process of `messenger up`, then a restart, loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import base_database_url
from tests.e2e.conftest import cleanup_databases
from tests.e2e.harness import System, login, open_direct, send, two_friends

pytestmark = pytest.mark.e2e


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    value = System(tmp_path, database_url=base_database_url())
    value.start()
    try:
        yield value
    finally:
        value.stop()
        cleanup_databases(value)


async def test_sigkill_and_restart_loses_nothing(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url, timeout=15) as client:
        ada, bob, cid = await two_friends(client, system)
        texts = [f"kept {i} ✓" for i in range(5)]
        for text in texts:
            await send(client, ada, cid, text)
        seen = await client.post(f"/v1/conversations/{cid}/seen", json={"seq": 3}, headers=bob.auth)
        assert seen.status_code == 200

    system.kill()
    system.start()

    async with httpx.AsyncClient(base_url=system.url, timeout=15) as client:
        # The sessions (and the keys that signed their tokens) survived.
        sessions = await client.get("/v1/sessions", headers=bob.auth)
        assert sessions.status_code == 200, sessions.text
        assert bob.session_id in {s["session_id"] for s in sessions.json()["sessions"]}
        await login(client, ada)
        friends = (await client.get("/v1/friends", headers=ada.auth)).json()
        assert [f["user_id"] for f in friends["friends"]] == [bob.user_id]
        history = await client.get(f"/v1/conversations/{cid}/messages", headers=bob.auth)
        assert [m["text"] for m in history.json()["messages"]] == texts
        listed = (await client.get("/v1/conversations", headers=bob.auth)).json()
        conversation = next(c for c in listed["conversations"] if c["conversation_id"] == cid)
        assert conversation["last_seen_seq"] == 3
        assert conversation["unread_count"] == 2
        profile = await client.get("/v1/profiles/me", headers=ada.auth)
        assert profile.json()["email_verified"] is True
        after = await send(client, bob, cid, "after restart")
        assert after["seq"] == 6
        assert await open_direct(client, bob, ada) == cid
