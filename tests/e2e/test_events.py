"""Acceptance 4: each of the ten events reaches JetStream once per action, in the envelope
of DESIGN.md, with the request's id carried from the gateway."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from tests.conftest import base_database_url
from tests.e2e.conftest import cleanup_databases
from tests.e2e.harness import System, befriend, eventually, open_direct, send, signup

pytestmark = pytest.mark.e2e

PRODUCERS = {
    "user": "auth",
    "profile": "profile",
    "friendship": "contact",
    "message": "messaging",
    "session": "session",
}


@pytest.fixture
def system_on_test_nats(tmp_path: Path, nats_url: str) -> Iterator[System]:
    value = System(tmp_path, database_url=base_database_url(), nats_url=nats_url)
    value.start()
    try:
        yield value
    finally:
        value.stop()
        cleanup_databases(value)


async def stream_events(nats_url: str) -> list[tuple[dict[str, object], str | None]]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        info = await js.stream_info("MESSENGER")
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await js.get_msg("MESSENGER", seq)
            assert raw.subject is not None
            assert raw.data is not None
            if raw.subject.startswith("messenger.deadletter."):
                continue
            found.append((json.loads(raw.data), (raw.headers or {}).get("Nats-Msg-Id")))
        return found
    finally:
        await client.close()


async def test_each_event_once_per_action(system_on_test_nats: System, nats_url: str) -> None:
    system = system_on_test_nats
    async with httpx.AsyncClient(base_url=system.url, timeout=15) as client:
        ada = await signup(client, system, "ada")  # user.created, email_verified, session.created
        bob = await signup(client, system, "bob")
        await befriend(client, ada, bob)  # friendship.created, friendship.accepted
        cid = await open_direct(client, ada, bob)
        message = await send(client, ada, cid, "hi")  # message.sent
        seen = await client.post(  # message.seen
            f"/v1/conversations/{cid}/seen", json={"seq": message["seq"]}, headers=bob.auth
        )
        assert seen.status_code == 200
        patched = await client.patch(  # profile.updated
            "/v1/profiles/me", json={"bio": "x"}, headers={**ada.auth, "X-Request-Id": "req-42"}
        )
        assert patched.status_code == 200
        removed = await client.delete(f"/v1/friends/{bob.user_id}", headers=ada.auth)
        assert removed.status_code == 204  # friendship.removed
        out = await client.post("/v1/auth/logout", headers=bob.auth)  # session.revoked
        assert out.status_code == 204

    expected = Counter(
        {
            "user.created": 2,
            "user.email_verified": 2,
            "session.created": 2,
            "profile.updated": 3,
            "friendship.created": 1,
            "friendship.accepted": 1,
            "message.sent": 1,
            "message.seen": 1,
            "friendship.removed": 1,
            "session.revoked": 1,
        }
    )

    async def all_there() -> list[tuple[dict[str, object], str | None]] | None:
        events = await stream_events(nats_url)
        counts = Counter(str(e["type"]) for e, _ in events)
        return events if all(counts[t] >= n for t, n in expected.items()) else None

    await eventually(all_there, timeout=5)
    await asyncio.sleep(0.5)  # anything published twice would be there by now
    events = await stream_events(nats_url)
    assert Counter(str(e["type"]) for e, _ in events) == expected
    for envelope, msg_id in events:
        assert set(envelope) == {
            "id",
            "type",
            "version",
            "occurred_at",
            "producer",
            "request_id",
            "data",
        }
        assert msg_id == envelope["id"]
        assert envelope["version"] == 1
        assert str(envelope["occurred_at"]).endswith("Z")
        assert envelope["producer"] == PRODUCERS[str(envelope["type"]).split(".")[0]]
        assert isinstance(envelope["data"], dict)
    assert len({e["id"] for e, _ in events}) == len(events)
    updated = [e for e, _ in events if e["type"] == "profile.updated"]
    assert any(e["request_id"] == "req-42" for e in updated)
