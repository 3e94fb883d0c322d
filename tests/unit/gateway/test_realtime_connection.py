"""A socket's `Connection`: frames go out in order, a client that falls behind is ended,
and `end` wakes the socket's task out of its read without swallowing a real cancellation
(the ASGI server's side is played by plain callables)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from messenger.gateway.auth import Caller
from messenger.gateway.realtime.hub import QUEUE_LIMIT, Connection, End

CALLER = Caller("u" * 32, "s" * 32)


class Peer:
    """The ASGI receive/send pair of one socket; `stalled` holds every send."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stalled = asyncio.Event()
        self.stalled.set()

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        await self.stalled.wait()
        self.sent.append(message["text"])


async def serve(peer: Peer, limit: int = QUEUE_LIMIT) -> tuple[asyncio.Task[End], Connection]:
    ready: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    async def socket_task() -> End:
        connection = Connection(CALLER, peer.send, limit)
        ready.set_result(connection)
        return await connection.until_ended(peer.receive)

    task = asyncio.create_task(socket_task())
    return task, await ready


async def test_frames_go_out_in_order_and_the_client_leaving_ends_it() -> None:
    peer = Peer()
    task, connection = await serve(peer)
    for n in range(5):
        connection.push(str(n))
    await asyncio.sleep(0)
    connection.push("5")
    await asyncio.sleep(0.01)
    assert peer.sent == ["0", "1", "2", "3", "4", "5"]
    await peer.inbox.put({"type": "websocket.disconnect", "code": 1000})
    assert await task is End.CLOSED


async def test_a_client_that_falls_behind_is_ended() -> None:
    peer = Peer()
    peer.stalled.clear()
    task, connection = await serve(peer, limit=3)
    for n in range(10):
        connection.push(str(n))
    assert await asyncio.wait_for(task, 1) is End.OVERFLOW
    connection.stop_writing()
    assert peer.sent == []


async def test_a_burst_pushed_before_the_writer_runs_is_no_overflow() -> None:
    """Frames a NATS subscription hands over in one go, without a turn for the writer."""
    peer = Peer()
    task, connection = await serve(peer)
    frames = [f'{{"type":"message.sent","seq":{n},"text":"{"x" * 200}"}}' for n in range(500)]
    for frame in frames:
        connection.push(frame)
    await asyncio.sleep(0.05)
    assert connection.ended is None
    assert peer.sent == frames
    await peer.inbox.put({"type": "websocket.disconnect", "code": 1000})
    assert await task is End.CLOSED


async def test_end_wakes_the_read_and_a_real_cancellation_still_propagates() -> None:
    peer = Peer()
    task, connection = await serve(peer)
    await asyncio.sleep(0)
    connection.end(End.REVOKED)
    assert await asyncio.wait_for(task, 1) is End.REVOKED

    task, connection = await serve(peer)
    await asyncio.sleep(0)
    task.cancel()
    connection.end(End.REVOKED)
    with pytest.raises(asyncio.CancelledError):
        await task
