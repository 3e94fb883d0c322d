"""profile-service against a real nats-server and a real database: profiles made from
auth's events exactly once, ETag revalidation, atomic If-Match, and `profile.updated`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from messenger.platform.config import Settings
from messenger.platform.db import database_url
from messenger.platform.events import Envelope
from messenger.platform.ids import new_id
from messenger.platform.migrations import upgrade
from messenger.platform.process import wait_for_port
from messenger.profile.main import serve


@dataclass
class Running:
    http: httpx.AsyncClient
    nc: NatsClient
    updates: asyncio.Queue[dict[str, object]]

    async def publish(self, envelope: Envelope, msg_id: str | None = None) -> None:
        await self.nc.jetstream().publish(
            envelope.subject, envelope.to_json(), headers={"Nats-Msg-Id": msg_id or envelope.id}
        )

    async def create_user(self, username: str, display_name: str | None = None) -> str:
        user_id = new_id()
        await self.publish(
            Envelope.new(
                "user.created",
                {
                    "user_id": user_id,
                    "username": username,
                    "display_name": display_name,
                    "created_at": 1,
                },
                producer="auth",
                request_id=None,
            )
        )
        await self.wait_for(user_id, lambda doc: True)
        return user_id

    async def wait_for(self, user_id: str, check: object) -> dict[str, object]:
        assert callable(check)
        async with asyncio.timeout(5):
            while True:
                response = await self.http.get(f"/internal/v1/profiles/{user_id}")
                if response.status_code == 200 and check(response.json()):
                    doc: dict[str, object] = response.json()
                    return doc
                await asyncio.sleep(0.02)

    async def next_update(self) -> dict[str, object]:
        async with asyncio.timeout(5):
            return await self.updates.get()


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    await upgrade("profile", database_url(settings, "profile"))
    task = asyncio.create_task(serve(settings))
    host, _, port = settings.profile_addr.rpartition(":")
    await wait_for_port(host, int(port), timeout=20)
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    updates: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def on_update(msg: Msg) -> None:
        await updates.put(json.loads(msg.data)["data"])

    await nc.subscribe("messenger.profile.updated", cb=on_update)
    async with httpx.AsyncClient(base_url=settings.profile_url) as http:
        try:
            yield Running(http, nc, updates)
        finally:
            await nc.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_user_created_makes_the_base_profile_once(running: Running) -> None:
    user_id = await running.create_user("Alice_1")
    response = await running.http.get(f"/internal/v1/profiles/{user_id}")
    doc = response.json()
    assert doc["username"] == "alice_1"
    assert doc["display_name"] == "alice_1"
    assert doc["bio"] is None
    assert doc["avatar_url"] is None
    assert doc["email_verified"] is False
    assert doc["version"] == 1
    assert response.headers["cache-control"] == "private, no-cache"

    found = await running.http.get("/internal/v1/users/ALICE_1")
    assert found.json() == {"user_id": user_id, "username": "alice_1", "display_name": "alice_1"}
    assert (await running.http.get("/internal/v1/users/nobody")).status_code == 404
    assert (await running.http.get(f"/internal/v1/profiles/{new_id()}")).status_code == 404
    assert (await running.http.get("/internal/v1/profiles/not-an-id")).status_code == 404


async def test_redelivered_events_change_nothing(running: Running) -> None:
    user_id = new_id()
    created = Envelope.new(
        "user.created",
        {"user_id": user_id, "username": "bob", "display_name": "Bob B", "created_at": 1},
        producer="auth",
        request_id=None,
    )
    verified = Envelope.new(
        "user.email_verified", {"user_id": user_id}, producer="auth", request_id=None
    )
    await running.publish(created)
    await running.publish(verified)
    # The same envelopes again under new message ids: JetStream keeps them, the inbox drops them.
    await running.publish(created, msg_id=new_id())
    await running.publish(verified, msg_id=new_id())
    doc = await running.wait_for(user_id, lambda d: d["email_verified"])
    assert doc["display_name"] == "Bob B"
    assert await running.next_update() == {"user_id": user_id, "version": 2}
    await asyncio.sleep(0.5)
    assert running.updates.empty()
    final = (await running.http.get(f"/internal/v1/profiles/{user_id}")).json()
    assert final["version"] == 2


async def test_etag_revalidation_and_conditional_update(running: Running) -> None:
    user_id = await running.create_user("carol")
    url = f"/internal/v1/profiles/{user_id}"
    first = await running.http.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    not_modified = await running.http.get(url, headers={"If-None-Match": f'W/{etag}, "x"'})
    assert not_modified.status_code == 304
    assert not_modified.headers["etag"] == etag

    updated = await running.http.patch(
        url, json={"display_name": "Carol C", "bio": "hi", "nope": 1}, headers={"If-Match": etag}
    )
    assert updated.status_code == 200
    assert updated.json()["display_name"] == "Carol C"
    assert updated.json()["version"] == 2
    assert updated.headers["etag"] != etag
    assert await running.next_update() == {"user_id": user_id, "version": 2}
    assert (await running.http.get(url, headers={"If-None-Match": etag})).status_code == 200

    stale = await running.http.patch(url, json={"bio": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"

    cleared = await running.http.patch(url, json={"bio": None, "avatar_url": None})
    assert cleared.json()["bio"] is None
    assert cleared.json()["version"] == 3
    unchanged = await running.http.patch(url, json={"bio": None})
    assert unchanged.json()["version"] == 3


async def test_one_of_two_writers_with_the_same_etag_wins(running: Running) -> None:
    user_id = await running.create_user("dave")
    url = f"/internal/v1/profiles/{user_id}"
    etag = (await running.http.get(url)).headers["etag"]
    results = await asyncio.gather(
        *(
            running.http.patch(url, json={"bio": f"bio {n}"}, headers={"If-Match": etag})
            for n in range(4)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412]
    assert (await running.http.get(url)).json()["version"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": None},
        {"display_name": ""},
        {"display_name": " \t"},
        {"display_name": "x" * 65},
        {"display_name": 5},
        {"bio": "x" * 501},
        {"avatar_url": "http://example.com/a.png"},
        {"avatar_url": "https://"},
        {"avatar_url": "https://example.com/" + "a" * 2048},
        {"bio": "a\x00b"},
        [1],
    ],
)
async def test_invalid_updates_are_422(running: Running, body: object) -> None:
    user_id = await running.create_user("erin")
    response = await running.http.patch(f"/internal/v1/profiles/{user_id}", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


async def test_ops_endpoints(running: Running) -> None:
    assert (await running.http.get("/healthz")).json() == {"status": "ok"}
    assert (await running.http.get("/readyz")).status_code == 200
    metrics = await running.http.get("/metrics")
    assert "messenger_http_requests_total" in metrics.text
    echoed = await running.http.get("/healthz", headers={"X-Request-Id": "abc-1"})
    assert echoed.headers["x-request-id"] == "abc-1"
    head = await running.http.head("/healthz")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == echoed.headers["content-length"]
