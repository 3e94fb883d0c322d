"""Real time against `messenger up` as real processes: a second `messenger serve gateway`
joins through `addresses.env` and frames cross instances; `messenger bench` runs to the
end with tiny numbers so that it cannot rot."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from messenger.platform.process import free_port
from tests.e2e.harness import (
    MESSENGER,
    System,
    login,
    send,
    two_friends,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def second_gateway(system: System) -> Iterator[str]:
    """`messenger serve gateway` on its own port, joined to `system` via addresses.env."""
    env = system.environment()
    for line in (system.data_dir / "addresses.env").read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = value
    port = free_port()
    env["MESSENGER_GATEWAY_PORT"] = str(port)
    log = (system.root / "gateway-2.log").open("ab")
    process = subprocess.Popen(
        [MESSENGER, "serve", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the second gateway exited"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the second gateway was not ready in 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def ready_socket(url: str, token: str) -> ClientConnection:
    connection = await connect(
        url.replace("http://", "ws://") + "/v1/ws",
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    assert json.loads(await asyncio.wait_for(connection.recv(), 5)) == {"type": "ready"}
    return connection


async def frames_until(
    connection: ClientConnection, seq: int, *, any_order: bool = False
) -> list[dict[str, Any]]:
    """The frames up to message `seq`'s, or (`any_order`) up to the `seq`-th message."""
    frames = []
    messages = 0
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await connection.recv())
            frames.append(frame)
            if frame["type"] != "message.sent":
                continue
            messages += 1
            if (messages if any_order else frame["message"]["seq"]) == seq:
                return frames


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.url, timeout=15) as value:
        yield value


async def test_a_second_gateway_process_delivers_frames_sent_through_the_first(
    client: httpx.AsyncClient, system: System, second_gateway: str
) -> None:
    ada, bob, cid = await two_friends(client, system)
    ada_phone = await login(client, dataclasses.replace(ada))
    sockets = [
        await ready_socket(second_gateway, bob.access_token),
        await ready_socket(second_gateway, ada_phone.access_token),
        await ready_socket(system.url, ada.access_token),
    ]
    try:
        first = await send(client, ada, cid, "over there")
        async with httpx.AsyncClient(base_url=second_gateway, timeout=15) as there:
            second = await send(there, bob, cid, "and back")
        for connection in sockets:
            frames = await frames_until(connection, 2)
            messages = [f["message"] for f in frames if f["type"] == "message.sent"]
            assert messages == [first, second]
    finally:
        for connection in sockets:
            await connection.close()


async def test_every_socket_on_either_gateway_sees_one_order(
    client: httpx.AsyncClient, system: System, second_gateway: str
) -> None:
    """Each instance routes a share of the events, and frames routed by one reach the
    other's sockets a NATS hop later: still every socket gets the conversation in seq
    order (acceptance: "in the same order for everyone")."""
    ada, bob, cid = await two_friends(client, system)
    ada_phone = await login(client, dataclasses.replace(ada))
    bob_phone = await login(client, dataclasses.replace(bob))
    sockets = [
        await ready_socket(system.url, ada.access_token),
        await ready_socket(system.url, bob.access_token),
        await ready_socket(second_gateway, ada_phone.access_token),
        await ready_socket(second_gateway, bob_phone.access_token),
    ]
    count = 64
    try:
        async with httpx.AsyncClient(base_url=second_gateway, timeout=15) as there:
            await asyncio.gather(
                *(
                    send((client, there)[i % 2], (ada, bob)[i % 3 % 2], cid, f"m{i}")
                    for i in range(count)
                )
            )
        for connection in sockets:
            frames = await frames_until(connection, count, any_order=True)
            seqs = [f["message"]["seq"] for f in frames if f["type"] == "message.sent"]
            assert seqs == list(range(1, count + 1))
    finally:
        for connection in sockets:
            await connection.close()


async def test_bench_runs_to_the_end(system: System) -> None:
    command = [
        *(sys.executable, "-m", "messenger", "bench", "--url", system.url),
        *("--pairs", "2", "--messages", "40", "--senders", "4", "--idle-sockets", "20"),
        *("--time-limit", "30", "--json"),
    ]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["messages_sent"] == 40
    assert report["delivered"] == 40
    assert report["errors"] == {}
    assert report["latency_ms"]["p99"] >= report["latency_ms"]["p50"] > 0
    assert {"gateway", "messaging", "nats-server"} <= set(report["peak_rss_mib"])
    cpu = report["cpu_ms_per_message"]
    assert {"gateway", "messaging", "contact", "nats-server", "bench"} <= set(cpu)
    assert cpu["messaging"] > 0
    assert cpu["gateway"] > 0
    assert report["idle_sockets"]["sockets"] == 20
    assert "sockets open" in done.stderr.decode()  # progress goes to stderr
