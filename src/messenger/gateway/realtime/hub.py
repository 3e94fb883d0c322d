"""The sockets of this gateway instance, and the per-user NATS subscriptions they need.

A user's subjects `rt.user.<id>.>` are subscribed while this instance holds at least
one socket of that user; a frame that arrives is decoded once and appended to each of those
sockets' queues without waiting, so one slow socket can never hold up the others. A queue
that reaches its bound ends its socket: the client reconnects and catches up by `seq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Counter, Gauge
from starlette.types import Receive, Send

from messenger.gateway.auth import Caller
from messenger.gateway.realtime import Order, frame_subject, order_of, user_subjects
from messenger.gateway.realtime.ordering import InOrder
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.logging import log

QUEUE_LIMIT = 256 * 1024
"""Characters of frames a socket may have waiting beyond what its TCP buffers (often
megabytes) hold: a bound on size, not on count, as frames come in bursts (a NATS
subscription hands over every frame it has buffered before the socket's writer gets a
turn: a count of 64 dropped clients that read at once, review)."""
SWEEP_SECONDS = 10.0
ROUTING_WAIT_SECONDS = 10.0

OPEN_SOCKETS = Gauge("messenger_ws_connections", "Open WebSockets on this gateway instance")
ENDED = Counter("messenger_ws_ended_total", "WebSockets ended by the server", ["reason"])


class End(enum.Enum):
    CLOSED = "closed"
    """The client went away."""
    REVOKED = "revoked"
    """The session was revoked: send `session.revoked`, close with 4001."""
    OVERFLOW = "overflow"
    """The client fell too far behind: drop it without a goodbye it could not read."""


class Connection:
    """One open socket: who it belongs to, and the frames waiting to be written to it.

    Idle, it costs no task of its own (an open socket is the bulk of a gateway's memory):
    the socket's ASGI task reads until the client leaves, and a writer task exists only
    while frames are waiting. The hub ends a connection (revocation, overflow) by waking
    that task out of its read; the task then says goodbye and detaches.
    """

    __slots__ = (
        "_frames",
        "_limit",
        "_queued",
        "_reading",
        "_send",
        "_task",
        "_writer",
        "caller",
        "ended",
    )

    def __init__(self, caller: Caller, send: Send, limit: int = QUEUE_LIMIT) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Connection belongs to the task serving its socket")
        self.caller = caller
        self.ended: End | None = None
        self._send = send
        self._task = task
        self._limit = limit
        self._frames: deque[str] | None = None
        self._queued = 0
        self._writer: asyncio.Task[None] | None = None
        self._reading = False

    def push(self, frame: str) -> None:
        """Queue a frame without waiting; a socket whose waiting frames would pass
        `limit` characters ends."""
        if self.ended is not None:
            return
        frames = self._frames
        if frames is None:
            frames = self._frames = deque()
        elif self._queued + len(frame) > self._limit:
            self.end(End.OVERFLOW)
            return
        frames.append(frame)
        self._queued += len(frame)
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())

    def end(self, reason: End) -> None:
        if self.ended is None:
            self.ended = reason
            if self._reading:
                # Wake the socket's task out of `until_ended` (see there).
                self._task.cancel()

    async def until_ended(self, receive: Receive) -> End:
        """Read (clients send nothing but ping/pong, answered by the server) until the
        client leaves or `end` is called; returns why the socket ends.

        `end` interrupts the read by cancelling this task, as `asyncio.timeout` does: the
        cancellation is taken back here, and any other one (shutdown) still propagates.
        """
        if self.ended is not None:
            return self.ended
        self._reading = True
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        except asyncio.CancelledError:
            if self.ended is None or self._task.uncancel() > 0:
                raise
        finally:
            self._reading = False
        self.end(End.CLOSED)
        assert self.ended is not None
        return self.ended

    def stop_writing(self) -> None:
        self._frames = None
        self._queued = 0
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    async def _drain(self) -> None:
        try:
            while self._frames:
                frame = self._frames.popleft()
                self._queued -= len(frame)
                await self._send({"type": "websocket.send", "text": frame})
            self._frames = None
        except asyncio.CancelledError:
            raise
        except Exception:
            # The client is gone: the socket's task learns it from its read.
            self.end(End.CLOSED)
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None


class _UserLink:
    """This instance's subscription to one user's subjects, shared by their sockets,
    which get each conversation's frames in `seq` order."""

    __slots__ = ("_in_order", "connections", "failed", "live", "subscription")

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.subscription: Subscription | None = None
        self.live = asyncio.Event()
        self.failed = False
        self._in_order: InOrder | None = None

    async def deliver(self, msg: Msg) -> None:
        self.push(msg.data.decode(), order_of(msg.subject))

    def push(self, frame: str, order: Order | None) -> None:
        in_order = self._in_order
        if in_order is None:
            if order is None:
                self._fan_out(frame)
                return
            in_order = self._in_order = InOrder(self._fan_out)
        in_order.push(frame, order)

    def close(self) -> None:
        if self._in_order is not None:
            self._in_order.close()

    def _fan_out(self, frame: str) -> None:
        for connection in list(self.connections):
            connection.push(frame)


class Hub:
    def __init__(self, nc: NatsClient, check_session: Callable[[Caller], Awaitable[None]]) -> None:
        self._nc = nc
        self._check_session = check_session
        self._links: dict[str, _UserLink] = {}
        self._by_session: dict[str, set[Connection]] = {}
        self.routing = asyncio.Event()
        """Set once this instance has joined the router's consumers: before that, an
        event published now might be routed by nobody (they start at new events)."""

    async def attach(self, connection: Connection) -> None:
        """Register the socket; returns once its user's subscription is live at the NATS
        server, so every frame published from now on reaches it."""
        caller = connection.caller
        self._by_session.setdefault(caller.session_id, set()).add(connection)
        OPEN_SOCKETS.inc()
        link = self._links.get(caller.user_id)
        if link is None:
            link = self._links[caller.user_id] = _UserLink()
            link.connections.add(connection)
            try:
                link.subscription = await self._nc.subscribe(
                    user_subjects(caller.user_id), cb=link.deliver
                )
                await self._nc.flush()
            except BaseException:
                link.failed = True
                if self._links.get(caller.user_id) is link:
                    del self._links[caller.user_id]
                raise
            finally:
                link.live.set()
        else:
            link.connections.add(connection)
            await link.live.wait()
            if link.failed:
                raise MessengerError(ErrorCode.UNAVAILABLE, "Real-time delivery is unavailable.")
        async with asyncio.timeout(ROUTING_WAIT_SECONDS):
            await self.routing.wait()
        try:
            await self._check_session(caller)
        except MessengerError as exc:
            if exc.code is not ErrorCode.SESSION_REVOKED:
                raise
            # The revocation arrived while the subscription was being made.
            connection.end(End.REVOKED)

    async def detach(self, connection: Connection) -> None:
        caller = connection.caller
        sockets = self._by_session.get(caller.session_id)
        if sockets is not None and connection in sockets:
            sockets.discard(connection)
            OPEN_SOCKETS.dec()
            if not sockets:
                del self._by_session[caller.session_id]
        link = self._links.get(caller.user_id)
        if link is None or connection not in link.connections:
            return
        link.connections.discard(connection)
        if not link.connections:
            del self._links[caller.user_id]
            link.close()
            if link.subscription is not None:
                with contextlib.suppress(Exception):
                    await link.subscription.unsubscribe()

    async def send_frame(self, user_id: str, frame: bytes, order: Order | None = None) -> None:
        """A frame for every socket of the user, on every instance. This instance's own
        sockets get it directly, once their subscription is live (as they would get it
        from NATS); the publish reaches the others, not this one: the gateway's NATS
        connection is `no_echo`, so a frame crosses the network only to other instances."""
        link = self._links.get(user_id)
        if link is not None and link.live.is_set() and not link.failed:
            link.push(frame.decode(), order)
        await self._nc.publish(frame_subject(user_id, order), frame)

    def revoke_session(self, session_id: str) -> None:
        for connection in list(self._by_session.get(session_id, ())):
            connection.end(End.REVOKED)

    async def sweep_forever(self, interval: float = SWEEP_SECONDS) -> None:
        """Ask again, now and then, whether each socket's session is live: a revocation
        event missed while the NATS link was down is caught here (the session cache is
        emptied on every reconnect, so this reaches session-service then)."""
        while True:
            await asyncio.sleep(interval)
            for session_id, sockets in list(self._by_session.items()):
                if not sockets:
                    continue
                caller = next(iter(sockets)).caller
                try:
                    await self._check_session(caller)
                except MessengerError as exc:
                    if exc.code is ErrorCode.SESSION_REVOKED:
                        self.revoke_session(session_id)
                    else:
                        log.warning("session check failed", error=exc.message)
