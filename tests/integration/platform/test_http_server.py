"""The HTTP server of the gateway and profile-service (platform/http_server.py): bounds
on a request head's size and time, against clients that would hold memory or
connections without ever finishing a request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from messenger.platform.errors import MessengerError
from messenger.platform.http import read_body
from messenger.platform.http_server import GuardedHttpProtocol, serve_http
from messenger.platform.process import free_port, wait_for_port

pytestmark = pytest.mark.backend_neutral


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"received": len(await request.body())})


async def read_bounded(request: Request) -> JSONResponse:
    """As the services read bodies (platform.http.read_body)."""
    try:
        body = await read_body(request)
    except MessengerError as error:
        return JSONResponse({"error": error.message}, status_code=400)
    return JSONResponse({"received": len(body)})


async def without_reading(request: Request) -> JSONResponse:
    return JSONResponse({"read": False})


async def slow(request: Request) -> JSONResponse:
    await asyncio.sleep(0.3)
    return JSONResponse({"slow": True})


@pytest.fixture
async def port(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    monkeypatch.setattr(GuardedHttpProtocol, "head_timeout_seconds", 0.5)
    chosen = free_port()
    app = Starlette(
        routes=[
            Route("/", echo, methods=["GET", "POST"]),
            Route("/fast", without_reading, methods=["POST"]),
            Route("/read", read_bounded, methods=["POST"]),
            Route("/slow", slow),
        ]
    )
    server = asyncio.create_task(serve_http(app, "127.0.0.1", chosen))
    await wait_for_port("127.0.0.1", chosen, timeout=10)
    yield chosen
    server.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await server


async def exchange(port: int, *chunks: bytes, pause: float = 0.0) -> tuple[int, bytes]:
    """Send the chunks (with a pause between them), read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause)
        answer = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if status in (400, 408, 431):
        # Like every answer, a refusal carries a request id.
        assert b"\r\nx-request-id: " in head.lower()
    return status, body


def refusal(body: bytes) -> str:
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"}
    return str(error["code"])


async def test_a_normal_request_and_a_large_body_pass(port: int) -> None:
    body = b"x" * 60_000
    status, answer = await exchange(
        port,
        b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    assert (status, json.loads(answer)) == (200, {"received": len(body)})


async def test_an_oversized_head_is_refused(port: int) -> None:
    status, answer = await exchange(
        port, b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n"
    )
    assert status == 431
    assert refusal(answer) == "invalid_request"


async def test_a_head_trickled_in_chunks_is_refused_at_the_bound(port: int) -> None:
    chunks = [b"GET / HTTP/1.1\r\nhost: x\r\n"] + [b"x-h: " + b"a" * 8000 + b"\r\n"] * 10
    status, _ = await exchange(port, *chunks, pause=0.01)
    assert status == 431


async def test_a_head_that_never_ends_times_out(port: int) -> None:
    status, answer = await exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\n", pause=0.0)
    assert status == 408
    assert refusal(answer) == "invalid_request"


async def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_a_body_left_unread_is_not_waited_for(port: int) -> None:
    """Answered before its body arrived, a request whose client trickles that body must
    not hold the connection: it closes once the head timeout has passed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /fast HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\nab")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b'{"read":false}'), timeout=3)
        assert answer.startswith(b"HTTP/1.1 200")
        started = asyncio.get_running_loop().time()
        while not reader.at_eof() and asyncio.get_running_loop().time() - started < 3:
            writer.write(b"x")
            await asyncio.sleep(0.1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1), timeout=0.01)
        assert reader.at_eof()
    finally:
        writer.close()


async def test_a_connection_stays_usable_after_an_early_answer(port: int) -> None:
    """A client that sent its whole body keeps its connection (no reset under it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(3):
            writer.write(
                b"POST /fast HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n" + b"y" * 5000
            )
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b'{"read":false}'), timeout=3)
            assert answer.startswith(b"HTTP/1.1 200")
            assert b"connection: close" not in answer.lower()
    finally:
        writer.close()


async def test_a_refusal_never_answers_an_earlier_pipelined_request(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert b'{"slow":true}' in answer
    assert b"431" not in answer


@pytest.mark.parametrize(
    "garbage",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ],
    ids=["request-line", "content-length", "header-name", "tls-hello"],
)
async def test_bytes_that_are_not_http_get_a_400_in_the_error_shape(
    port: int, garbage: bytes
) -> None:
    status, body = await exchange(port, garbage)
    assert status == 400
    assert refusal(body) == "invalid_request"


async def test_bytes_that_are_not_http_after_a_request_do_not_take_its_answer(
    port: int,
) -> None:
    status, body = await exchange(
        port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGARBAGE\r\n\r\n"
    )
    assert status == 200
    assert json.loads(body) == {"received": 2}


async def test_a_body_that_breaks_its_chunking_is_refused_at_once(port: int) -> None:
    started = time.monotonic()
    status, body = await exchange(
        port,
        b"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    )
    assert status == 400
    assert refusal(body) == "invalid_request"
    assert time.monotonic() - started < 1.0
