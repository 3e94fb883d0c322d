"""Serving an ASGI app from a service's `serve(settings)`: uvicorn, stopped by cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from messenger.platform.heap import freeze_startup_heap
from messenger.platform.http import request_id_of
from messenger.platform.ids import new_id
from messenger.platform.logging import log

WS_MAX_MESSAGE_BYTES = 64 * 1024
"""What a client may send in one WebSocket message (uvicorn's default is 16 MiB, buffered in
memory): clients of this API send nothing but ping/pong."""


MAX_HEAD_BYTES = 64 * 1024
"""Request line plus headers. uvicorn's httptools parser sets no bound: a client could
make the server buffer a header line of any size."""
HEAD_TIMEOUT_SECONDS = 10.0
"""From a connection's start (or a request's first byte) to the end of its headers:
against clients that open connections and trickle bytes to hold them (slowloris)."""


def _refusal(
    status: int,
    reason: str,
    message: str,
    *,
    code: str = "invalid_request",
    request_id: str | None = None,
    allow: str | None = None,
) -> bytes:
    """The error shape of API.md, with a request id like every other answer (a new one
    when the request's own never arrived whole)."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {request_id or new_id()}\r\n"
        + (f"allow: {allow}\r\n" if allow else "")
        + "connection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head's size (431) and
    time (408), both answered in API.md's error shape before the connection closes, as
    is a request that is not HTTP/1.1 (400)."""

    max_head_bytes = MAX_HEAD_BYTES
    head_timeout_seconds = HEAD_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._tail = b""
        self._deadline: asyncio.TimerHandle | None = None
        self._body_pending = False
        self._parsed_head = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # Only the bytes up to the blank line that ends the head count: a body may
            # share the chunk. The blank line may straddle two chunks.
            end = (self._tail + data).find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = data[-3:]
            if self._head_bytes > self.max_head_bytes:
                self._refuse(
                    431, "Request Header Fields Too Large", "The request head is too large."
                )
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_head = 0
        self._start_deadline()

    def on_url(self, url: bytes) -> None:
        self._parsed_head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_head += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._body_pending = True
        self._stop_deadline()
        # The byte count above misses a head that arrived whole in one read behind
        # another request; the parsed size does not.
        if self._parsed_head > self.max_head_bytes:
            self._refuse(431, "Request Header Fields Too Large", "The request head is too large.")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head, self._head_bytes, self._tail = True, 0, b""
        self._body_pending = False
        self._stop_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Answered before its body had arrived (a 401, a 413): the rest is read and
        # dropped as usual, but only for as long as a head may take, or a client
        # trickling bytes would keep the connection for ever.
        if self._body_pending and not self.transport.is_closing():
            self._stop_deadline()
            self._deadline = self.loop.call_later(self.head_timeout_seconds, self._body_timed_out)

    def _body_timed_out(self) -> None:
        self._deadline = None
        if self._body_pending:
            self.transport.close()

    def handle_websocket_upgrade(self) -> None:
        self._stop_deadline()
        super().handle_websocket_upgrade()

    def _start_deadline(self) -> None:
        self._stop_deadline()
        self._deadline = self.loop.call_later(self.head_timeout_seconds, self._head_timed_out)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are not HTTP/1.1 is plain text; ours is the
        error shape."""
        self._refuse(400, "Bad Request", "The request is not valid HTTP/1.1.")

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self._in_head:
            self._refuse(408, "Request Timeout", "The request head took too long to arrive.")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._stop_deadline()
        self._in_head = False
        self._refused = True
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_started:
            # The bytes that are not HTTP are this request's own body (bad chunking):
            # the answer is the refusal, now, and the app, still reading, learns that
            # the client is gone (else it would wait out the body timeout).
            cycle.disconnected = True
            cycle.message_event.set()
        elif cycle is not None and not cycle.response_complete:
            # A pipelined request is still being answered: a refusal now would read as
            # its answer. Let it finish, then close; read nothing more.
            cycle.keep_alive = False
            self.transport.pause_reading()
            return
        self.transport.write(_refusal(status, reason, message))
        self.transport.close()


class _Server(uvicorn.Server):
    """The process's owner (the CLI) handles signals by cancelling `serve`; uvicorn must
    not take them over."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Waiters:
    """Tasks parked until the next wake-up; the list exists only while one waits."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    def _wake_all(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def _sleep(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class _Inbox(_Waiters):
    """What uvicorn's WebSocket protocol needs of its receive queue (`put_nowait`, `get`,
    `empty`) without asyncio.Queue's three deques and an Event, ~3 KiB per socket."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_all()

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            await self._sleep()
        return self._items.pop(0)


class _Flag(_Waiters):
    """An asyncio.Event (`set`, `clear`, `is_set`, `wait`) whose waiters list exists only
    while someone waits: uvicorn keeps one per socket to pause sends on a full buffer."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        super().__init__()
        self._value = False

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        self._wake_all()

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if not self._value:
            await self._sleep()
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's own WebSocket protocol (websockets' sans-I/O one), keeping less per open
    socket, which is most of a gateway's memory: the handshake's request and response are
    let go once the socket is accepted, and the receive queue and the write flag are the
    lean equivalents above. 1,000 bare sockets: 21.9 MiB with uvicorn's class, 15.2 MiB
    with this one. Each replacement applies only if uvicorn still has what it replaces."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self.queue) is asyncio.Queue:
            self.queue = _Inbox()  # type: ignore[assignment]
        if type(self.writable) is asyncio.Event and self.writable.is_set():
            flag = _Flag()
            flag.set()
            self.writable = flag  # type: ignore[assignment]

    abort_after_seconds = 5.0
    """How long a socket the server has finished with may take to go away."""

    def on_task_complete(self, task: asyncio.Task[None]) -> None:
        # The app's task is done (not an override of `run_asgi`: wrapping it would keep
        # a second coroutine frame for every open socket, 0.7 KiB each).
        super().on_task_complete(task)
        self._abort_later()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self._abort_later()

    def _abort_later(self) -> None:
        """uvicorn closes a finished socket with `transport.close()`, which first writes
        out what is buffered: a peer that stopped reading (the very client a full send
        queue drops) would keep the connection and its megabytes of frames for good."""
        if not self.disconnected:
            self.loop.call_later(self.abort_after_seconds, self._abort_unless_gone)

    def _abort_unless_gone(self) -> None:
        if self.disconnected:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # Reset, so that the kernel drops what it still holds to send as well (a
            # plain close would leave it trying to deliver that for minutes).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def handle_connect(self, event: Request) -> None:
        """A handshake websockets refuses (bad version, no key, not GET) is answered in
        API.md's error shape with its request id, not uvicorn's plain text."""
        response = self.conn.accept(event)
        if response.status_code == 101:
            # uvicorn asks for the answer itself: give it the one already made.
            self.conn.accept = lambda request: response  # type: ignore[method-assign]
            try:
                super().handle_connect(event)
            finally:
                del self.conn.accept
            return
        offered = event.headers.get("X-Request-Id", "")
        request_id = request_id_of({"headers": [(b"x-request-id", offered.encode("latin-1"))]})
        message = bytes(response.body).decode("utf-8", "replace").strip()
        self._refuse_handshake(
            response.status_code, message or "Not a WebSocket handshake.", request_id
        )

    def handle_handshake_exception(self) -> None:
        """A handshake websockets cannot parse (or over its 8 KiB lines): 400, or its
        431/414, in the error shape."""
        pending = b"".join(self.conn.data_to_send())
        status = 400
        if pending.startswith(b"HTTP/1.1 ") and pending[9:12].isdigit():
            status = int(pending[9:12])
        messages = {
            414: "The WebSocket handshake's request line is over 8 KiB.",
            431: "A header line of the WebSocket handshake is over 8 KiB.",
        }
        self._refuse_handshake(status, messages.get(status, "Not a WebSocket handshake."), None)

    def _refuse_handshake(self, status: int, message: str, request_id: str | None) -> None:
        self.handshake_initiated = True
        self.handshake_complete = True
        self.close_sent = True
        code, allow = ("method_not_allowed", "GET") if status == 405 else ("invalid_request", None)
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        self.transport.write(
            _refusal(status, reason, message, code=code, request_id=request_id, allow=allow)
        )
        self.transport.close()

    def send_receive_event_to_app(self) -> None:
        """A text message that is not UTF-8 ends the socket with 1007, as uvicorn would,
        but without its error-level traceback: any client could fill the error log."""
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                log.info("websocket text message is not UTF-8; closing with 1007")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Only the handshake reads them; an open socket keeps them for nothing.
            for name in ("request", "response"):
                if hasattr(self, name):
                    delattr(self, name)


async def serve_http(
    app: ASGIApp, host: str, port: int, *, trusted_proxies: str | None = None
) -> None:
    """Serve until cancelled, then finish the requests in flight and stop listening.

    `X-Forwarded-For` is believed only from `trusted_proxies` (comma-separated
    addresses): otherwise any local client could pick the address that login
    throttling counts against."""
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=GuardedHttpProtocol,
            ws=LeanWebSocketProtocol,
            ws_max_size=WS_MAX_MESSAGE_BYTES,
            # permessage-deflate keeps zlib state per WebSocket (~60 KiB each) and
            # compresses every frame; chat frames are small, so it costs more than it saves.
            ws_per_message_deflate=False,
            proxy_headers=trusted_proxies is not None,
            forwarded_allow_ips=trusted_proxies,
        )
    )
    freeze_startup_heap()
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise
    if not server.started:
        raise OSError(f"cannot listen on {host}:{port}")
