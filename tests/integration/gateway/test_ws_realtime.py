"""Real time (API.md "Real time") with every service in-process and TWO gateway
instances on one NATS, sharing one system per module: fan-out across instances, the
token check before the upgrade, revocation, unfriending, slow clients, and messaging's
guarantees under concurrency through the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from messenger.gateway.realtime.hub import ENDED, End
from messenger.platform.config import Settings
from messenger.platform.db import database_url
from messenger.platform.http_server import LeanWebSocketProtocol
from messenger.platform.ids import new_id
from messenger.platform.migrations import DATABASE_SERVICES, upgrade
from messenger.platform.nats_server import EmbeddedNats
from messenger.platform.process import free_port
from tests.conftest import base_database_url, drop_service_databases, make_settings
from tests.integration.gateway.conftest import System, User

pytestmark = pytest.mark.asyncio(loop_scope="module")

BACKENDS = ("session", "auth", "profile", "contact", "messaging")
QUIET_SECONDS = 0.5


@dataclass
class Cluster:
    """The services, gateway 1 (`one`) and gateway 2 (`two`, its own port)."""

    settings: Settings
    nats_url: str
    one: System
    two: System


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("ws")
    server = EmbeddedNats(root / "nats")
    await server.start()
    settings = make_settings(root / "data", server.url, base_database_url())
    second = settings.model_copy(update={"gateway_port": free_port()})
    for service in DATABASE_SERVICES:
        await upgrade(service, database_url(settings, service))
    serve = {name: importlib.import_module(f"messenger.{name}.main").serve for name in BACKENDS}
    gateway = importlib.import_module("messenger.gateway.main").serve
    tasks = [asyncio.create_task(serve[name](settings)) for name in BACKENDS]
    tasks += [asyncio.create_task(gateway(settings)), asyncio.create_task(gateway(second))]
    one = httpx.AsyncClient(base_url=settings.gateway_url, timeout=10)
    two = httpx.AsyncClient(base_url=second.gateway_url, timeout=10)
    try:
        async with asyncio.timeout(30):
            for http in (one, two):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)
        yield Cluster(settings, server.url, System(settings, one), System(second, two))
    finally:
        await one.aclose()
        await two.aclose()
        for task in reversed(tasks):
            task.cancel()
        for task in reversed(tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.stop()
        await drop_service_databases(settings)


@dataclass
class Socket:
    """A client WebSocket that records every frame it gets."""

    connection: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def _pump(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.connection:
                self.frames.append(json.loads(raw))
                self.arrived.set()

    async def wait_for(
        self, predicate: Any, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                found = [f for f in self.frames if predicate(f)]
                if len(found) >= count:
                    return found
                self.arrived.clear()
                await self.arrived.wait()

    def of(self, conversation_id: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("conversation_id") == conversation_id]

    async def close(self) -> None:
        await self.connection.close()
        if self.task is not None:
            await self.task


def ws_url(system: System) -> str:
    return system.settings.gateway_url.replace("http://", "ws://") + "/v1/ws"


@contextlib.asynccontextmanager
async def open_socket(system: System, user: User, *, query: bool = False) -> AsyncIterator[Socket]:
    url = ws_url(system) + (f"?access_token={user.token}" if query else "")
    headers = None if query else user.auth
    async with connect(url, additional_headers=headers, max_size=2**20) as connection:
        first = json.loads(await asyncio.wait_for(connection.recv(), 5))
        assert first == {"type": "ready"}
        sock = Socket(connection)
        sock.task = asyncio.create_task(sock._pump())
        try:
            yield sock
        finally:
            await sock.close()


async def eventually_status(call: Any, accept: set[int], timeout: float = 5.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response: httpx.Response = await call()
        if response.status_code in accept or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.05)


async def befriend(system: System, a: User, b: User) -> None:
    asked = await eventually_status(
        lambda: system.http.post("/v1/friends", json={"user_id": b.user_id}, headers=a.auth),
        {200, 201},
    )
    assert asked.status_code in (200, 201), asked.text
    accepted = await system.http.post(f"/v1/friends/{a.user_id}/accept", headers=b.auth)
    assert accepted.status_code == 200, accepted.text


async def pair(system: System) -> tuple[User, User, str]:
    a, b = await system.register(), await system.register()
    await befriend(system, a, b)
    opened = await system.http.post(
        "/v1/conversations/direct", json={"user_id": b.user_id}, headers=a.auth
    )
    assert opened.status_code in (200, 201), opened.text
    return a, b, opened.json()["conversation_id"]


async def send(
    system: System, user: User, cid: str, text: str, client_id: str | None = None
) -> httpx.Response:
    return await system.http.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": text, "client_message_id": client_id or new_id()},
        headers=user.auth,
    )


def is_message(seq: int) -> Any:
    return lambda f: f["type"] == "message.sent" and f["message"]["seq"] == seq


async def test_a_message_reaches_every_socket_on_every_instance_once(cluster: Cluster) -> None:
    one, two = cluster.one, cluster.two
    ada, bob, cid = await pair(one)
    ada_phone = await two.login(ada.username)
    async with (
        open_socket(one, ada) as ada_here,
        open_socket(two, ada_phone) as ada_there,
        open_socket(two, bob, query=True) as bob_there,
    ):
        sent = await send(one, ada, cid, "hello 👋", "first")
        assert sent.status_code == 201
        body = sent.json()
        for sock in (ada_here, ada_there, bob_there):
            frame = (await sock.wait_for(is_message(1)))[0]
            assert frame == {"type": "message.sent", "conversation_id": cid, "message": body}
        # A second message is a barrier: anything duplicated would have arrived before it.
        assert (await send(two, bob, cid, "hi")).status_code == 201
        for sock in (ada_here, ada_there, bob_there):
            await sock.wait_for(is_message(2))
            assert [f["message"]["seq"] for f in sock.of(cid)] == [1, 2]


async def test_token_is_checked_before_the_upgrade(cluster: Cluster) -> None:
    system = cluster.one
    for suffix, headers in (
        ("", None),
        ("", {"Authorization": "Bearer nope"}),
        ("?access_token=nope", None),
        ("?access_token=", None),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(system) + suffix, additional_headers=headers):
                pass
        response = refused.value.response
        assert response.status_code == 401
        assert json.loads(response.body or b"{}")["error"]["code"] == "unauthenticated"
        assert response.headers["X-Request-Id"]
    ada = await system.register()
    assert (await system.http.post("/v1/auth/logout", headers=ada.auth)).status_code == 204
    with pytest.raises(InvalidStatus) as revoked:
        async with connect(ws_url(system), additional_headers=ada.auth):
            pass
    assert revoked.value.response.status_code == 401
    assert json.loads(revoked.value.response.body or b"{}")["error"]["code"] == "session_revoked"


async def test_an_upgrade_elsewhere_is_a_404_in_the_error_shape(cluster: Cluster) -> None:
    ada = await cluster.one.register()
    for path in ("/v1/ws/", "/v1/nosuch", "/"):
        url = ws_url(cluster.one).replace("/v1/ws", path)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers={**ada.auth, "X-Request-Id": "r-404"}):
                pass
        response = refused.value.response
        assert response.status_code == 404, path
        assert json.loads(response.body or b"{}")["error"]["code"] == "not_found"
        assert response.headers["X-Request-Id"] == "r-404"


UPGRADE = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


@pytest.mark.parametrize(
    ("request_head", "status", "code"),
    [
        (
            f"GET /v1/ws HTTP/1.1\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 8\r\n",
            400,
            "invalid_request",
        ),
        (f"GET /v1/ws HTTP/1.1\r\n{UPGRADE}Sec-WebSocket-Version: 13\r\n", 400, "invalid_request"),
        (
            f"POST /v1/ws HTTP/1.1\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 13\r\n",
            405,
            "method_not_allowed",
        ),
        (
            f"GET /v1/ws HTTP/1.1\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 13\r\n"
            f"X-Big: {'a' * 9000}\r\n",
            431,
            "invalid_request",
        ),
    ],
    ids=["version", "no-key", "post", "long-header"],
)
async def test_a_broken_handshake_is_refused_in_the_error_shape(
    cluster: Cluster, request_head: str, status: int, code: str
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", cluster.one.settings.gateway_port)
    writer.write(f"{request_head}X-Request-Id: hs-1\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == status
    assert json.loads(body)["error"]["code"] == code
    assert b"\r\nx-request-id: " in head.lower()
    if status == 405:
        assert b"\r\nallow: GET" in head


async def test_revocation_closes_sockets_on_every_instance_within_a_second(
    cluster: Cluster,
) -> None:
    ada = await cluster.one.register()
    phone = await cluster.two.login(ada.username)
    async with (
        open_socket(cluster.one, phone) as here,
        open_socket(cluster.two, phone) as there,
        open_socket(cluster.two, ada) as survivor,
    ):
        started = time.monotonic()
        revoked = await cluster.one.http.delete(
            f"/v1/sessions/{phone.session_id}", headers=ada.auth
        )
        assert revoked.status_code == 204
        for sock in (here, there):
            assert sock.task is not None
            await asyncio.wait_for(sock.task, 1.0)
            assert sock.frames == [{"type": "session.revoked"}]
            assert sock.connection.close_code == 4001
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.1)
        assert survivor.connection.close_code is None


async def test_friendship_frames_name_the_other_party(cluster: Cluster) -> None:
    system = cluster.two
    ada, bob = await system.register(), await system.register()
    async with open_socket(cluster.one, ada) as ada_sock, open_socket(system, bob) as bob_sock:
        await befriend(system, ada, bob)
        removed = await system.http.delete(f"/v1/friends/{bob.user_id}", headers=ada.auth)
        assert removed.status_code == 204
        kinds = ["friendship.created", "friendship.accepted", "friendship.removed"]
        for sock, other in ((ada_sock, bob), (bob_sock, ada)):
            frames = await sock.wait_for(lambda f: f["type"] == "friendship.removed")
            assert frames == [{"type": "friendship.removed", "user_id": other.user_id}]
            await asyncio.sleep(0.05)
            assert sock.frames == [{"type": kind, "user_id": other.user_id} for kind in kinds]


@contextlib.asynccontextmanager
async def consumers_paused(nats_url: str, durables: list[str]) -> AsyncIterator[None]:
    """Stop the consumers of `friendship.*` (NATS consumer pause), resumed afterwards."""
    client = await nats.connect(nats_url)

    async def pause(durable: str, until: datetime) -> None:
        stamp = until.isoformat().replace("+00:00", "Z")
        answer = await client.request(
            f"$JS.API.CONSUMER.PAUSE.MESSENGER.{durable}",
            json.dumps({"pause_until": stamp}).encode(),
            timeout=2,
        )
        assert "error" not in json.loads(answer.data), answer.data

    try:
        for durable in durables:
            await pause(durable, datetime.now(UTC) + timedelta(minutes=5))
        yield
    finally:
        for durable in durables:
            await pause(durable, datetime.now(UTC) - timedelta(seconds=1))
        await client.close()


async def test_a_removed_friend_hears_nothing_more_of_the_conversation(cluster: Cluster) -> None:
    system = cluster.one
    ada, bob, cid = await pair(system)
    async with open_socket(system, ada) as ada_sock, open_socket(cluster.two, bob) as bob_sock:
        assert (await send(system, bob, cid, "one")).status_code == 201
        assert (await send(system, bob, cid, "two")).status_code == 201
        await bob_sock.wait_for(is_message(2))
        await ada_sock.wait_for(is_message(2))
        paused = ["messaging-friendships", "gateway-realtime-friendships"]
        async with consumers_paused(cluster.nats_url, paused):
            removed = await system.http.delete(f"/v1/friends/{ada.user_id}", headers=bob.auth)
            assert removed.status_code == 204
            for user in (ada, bob):
                refused = await send(system, user, cid, "after")
                assert refused.status_code == 403
                assert refused.json()["error"]["code"] == "not_friends"
            seen = await system.http.post(
                f"/v1/conversations/{cid}/seen", json={"seq": 2}, headers=ada.auth
            )
            assert seen.status_code == 200
            # Ada's own socket hears her read position: the event was routed...
            await ada_sock.wait_for(lambda f: f["type"] == "message.seen")
            await asyncio.sleep(QUIET_SECONDS)
        # ...and Bob's heard nothing of the conversation since the unfriending.
        assert [f["type"] for f in bob_sock.of(cid)] == ["message.sent", "message.sent"]


async def test_concurrent_sends_through_the_gateway(cluster: Cluster) -> None:
    """64 concurrent sends by both members through both instances: 64 distinct gap-free
    seqs, and every socket on either instance sees them in seq order (each instance
    routes its share of the events; sockets on one see the other's share a hop later)."""
    system = cluster.one
    ada, bob, cid = await pair(system)
    ada_phone, bob_phone = await system.login(ada.username), await system.login(bob.username)
    async with (
        open_socket(system, ada) as ada_sock,
        open_socket(cluster.two, bob) as bob_sock,
        open_socket(cluster.two, ada_phone) as ada_phone_sock,
        open_socket(system, bob_phone) as bob_phone_sock,
    ):
        answers = await asyncio.gather(
            *(
                send((cluster.one, cluster.two)[i % 3 % 2], ada if i % 2 else bob, cid, f"c{i}")
                for i in range(64)
            )
        )
        assert all(a.status_code == 201 for a in answers)
        assert sorted(a.json()["seq"] for a in answers) == list(range(1, 65))

        same = await asyncio.gather(*(send(system, ada, cid, "once", "dup-1") for _ in range(20)))
        assert sorted(a.status_code for a in same) == [200] * 19 + [201]
        assert len({json.dumps(a.json(), sort_keys=True) for a in same}) == 1
        assert same[0].json()["seq"] == 65

        for sock in (ada_sock, bob_sock, ada_phone_sock, bob_phone_sock):
            await sock.wait_for(is_message(65))
            await asyncio.sleep(0.1)
            assert [f["message"]["seq"] for f in sock.of(cid)] == list(range(1, 66))
    history = await system.http.get(f"/v1/conversations/{cid}/messages?limit=100", headers=bob.auth)
    assert [m["seq"] for m in history.json()["messages"]] == list(range(1, 66))


async def test_paging_back_while_messages_arrive_sees_each_once(cluster: Cluster) -> None:
    system = cluster.two
    ada, bob, cid = await pair(system)
    for index in range(30):
        assert (await send(system, ada, cid, f"old {index}")).status_code == 201

    async def keep_sending() -> None:
        for index in range(30):
            assert (await send(system, bob, cid, f"new {index}")).status_code == 201

    url = f"/v1/conversations/{cid}/messages"
    sender = asyncio.create_task(keep_sending())
    first = (await system.http.get(f"{url}?limit=5", headers=bob.auth)).json()
    got = [m["seq"] for m in first["messages"]]
    newest, before = got[-1], got[0]
    while True:
        page = (await system.http.get(f"{url}?before={before}&limit=4", headers=bob.auth)).json()
        seqs = [m["seq"] for m in page["messages"]]
        got += seqs
        if not page["has_more"]:
            break
        before = seqs[0]
    await sender
    after = newest
    while True:
        page = (await system.http.get(f"{url}?after={after}&limit=7", headers=bob.auth)).json()
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs == list(range(after + 1, after + 1 + len(seqs)))
        got += seqs
        if not page["has_more"]:
            break
        after = seqs[-1]
    assert sorted(got) == list(range(1, 61))
    assert len(got) == len(set(got))


async def test_read_positions_never_move_back(cluster: Cluster) -> None:
    system = cluster.one
    ada, bob, cid = await pair(system)
    bob_tablet = await cluster.two.login(bob.username)
    for index in range(20):
        assert (await send(system, ada, cid, f"m{index}")).status_code == 201

    async def seen(user: User, http: httpx.AsyncClient, seq: int) -> int:
        answer = await http.post(
            f"/v1/conversations/{cid}/seen", json={"seq": seq}, headers=user.auth
        )
        assert answer.status_code == 200
        position: int = answer.json()["last_seen_seq"]
        assert position >= seq or position == 20
        return position

    async with open_socket(system, ada) as ada_sock:
        targets = [3, 15, 7, 12, 1, 9, 14, 2]
        await asyncio.gather(
            *(
                seen(bob if i % 2 else bob_tablet, (system if i % 2 else cluster.two).http, seq)
                for i, seq in enumerate(targets)
            )
        )
        frames = await ada_sock.wait_for(lambda f: f["type"] == "message.seen" and f["seq"] == 15)
        assert frames[0]["user_id"] == bob.user_id
        assert all(f["seq"] <= 15 for f in ada_sock.frames if f["type"] == "message.seen")
    assert await seen(bob, system.http, 4) == 15
    listed = await cluster.two.http.get("/v1/conversations", headers=bob_tablet.auth)
    mine = next(c for c in listed.json()["conversations"] if c["conversation_id"] == cid)
    assert (mine["last_seen_seq"], mine["unread_count"]) == (15, 5)
    assert (await send(system, ada, cid, "more")).status_code == 201
    listed = await system.http.get("/v1/conversations", headers=bob.auth)
    mine = next(c for c in listed.json()["conversations"] if c["conversation_id"] == cid)
    assert (mine["last_seen_seq"], mine["unread_count"]) == (15, 6)


MOST = 640


def stalled_socket(system: System, user: User) -> socket.socket:
    """A WebSocket client that never reads after `ready`, with a tiny receive window."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", system.settings.gateway_port))
    raw.sendall(
        (
            "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {user.token}\r\n\r\n"
        ).encode()
    )
    raw.settimeout(5)
    received = b""
    while b'{"type":"ready"}' not in received:
        received += raw.recv(4096)
    assert received.startswith(b"HTTP/1.1 101")
    return raw


def read_until_closed(raw: socket.socket) -> tuple[int, bool]:
    """Read what the server sent until it closed the connection; returns the bytes, and
    whether the server cut the connection (reset) rather than closing it after its
    last byte."""
    raw.settimeout(10)
    total = 0
    try:
        while chunk := raw.recv(65536):
            total += len(chunk)
    except ConnectionResetError:
        return total, True
    finally:
        raw.close()
    return total, False


ABORT_AFTER_SECONDS = 0.5


async def test_a_text_message_that_is_not_utf8_closes_with_1007_quietly(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    ada = await cluster.one.register()
    raw = await asyncio.to_thread(stalled_socket, cluster.one, ada)
    payload, mask = b"\xff\xfe not utf-8", b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    with caplog.at_level("WARNING"):
        raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        received = b""
        raw.settimeout(5)
        while chunk := await asyncio.to_thread(raw.recv, 4096):
            received += chunk
    raw.close()
    close = received[received.rindex(b"\x88") :]
    assert int.from_bytes(close[2:4], "big") == 1007
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_a_client_that_stops_reading_is_dropped_without_delaying_others(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """...and its connection is cut soon after, frames still buffered: closing it
    gracefully would wait, forever, for the client to read them."""
    monkeypatch.setattr(LeanWebSocketProtocol, "abort_after_seconds", ABORT_AFTER_SECONDS)
    system = cluster.one
    ada, bob, cid = await pair(system)
    stalled = await asyncio.to_thread(stalled_socket, system, bob)
    text = "😀" * 4096  # 16 KiB of UTF-8: the kernel's buffers fill sooner
    dropped = ENDED.labels(End.OVERFLOW.value)
    dropped_before = dropped._value.get()
    lags: list[float] = []
    sent = 0
    try:
        async with open_socket(system, bob) as reader:
            while dropped._value.get() == dropped_before and sent < MOST:
                started = time.monotonic()
                batch = await asyncio.gather(*(send(system, ada, cid, text) for _ in range(16)))
                assert all(a.status_code == 201 for a in batch)
                sent += 16
                await reader.wait_for(is_message(sent), timeout=2)
                lags.append(time.monotonic() - started)
            assert len(reader.of(cid)) == sent
        assert dropped._value.get() == dropped_before + 1
        assert max(lags) < 2.0
        await asyncio.sleep(ABORT_AFTER_SECONDS + 1)
    finally:
        received, reset = await asyncio.to_thread(read_until_closed, stalled)
    assert reset
    # The server cut the stalled connection before it had sent it everything.
    assert received < sent * len(text.encode())
