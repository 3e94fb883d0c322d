"""The sockets of this gateway instance, and the per-user NATS subscriptions they need.

A user's subject `rt.user.<id>` is subscribed while this instance holds at least one
socket of that user; a frame that arrives is copied into each of those sockets' queues
without waiting, so one slow socket can never hold up the others. A queue that reaches
its bound ends its socket: the client reconnects and catches up by `seq`.
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

from messenger.gateway.auth import Caller
from messenger.gateway.realtime import user_subject
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.logging import log

QUEUE_LIMIT = 64
"""Frames a socket may have waiting beyond what its TCP buffers (often megabytes) hold."""
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
    """One open socket: who it belongs to and the frames waiting to be sent to it."""

    __slots__ = ("_frames", "_limit", "_wakeup", "caller", "done", "ended")

    def __init__(self, caller: Caller, limit: int = QUEUE_LIMIT) -> None:
        self.caller = caller
        self.ended: End | None = None
        self.done = asyncio.Event()
        self._limit = limit
        self._frames: deque[bytes] = deque()
        self._wakeup = asyncio.Event()

    def push(self, frame: bytes) -> None:
        if self.ended is not None:
            return
        if len(self._frames) >= self._limit:
            self.end(End.OVERFLOW)
            return
        self._frames.append(frame)
        self._wakeup.set()

    def end(self, reason: End) -> None:
        if self.ended is None:
            self.ended = reason
            self.done.set()

    async def take(self) -> list[bytes]:
        """Every frame waiting, once there is at least one."""
        while not self._frames:
            self._wakeup.clear()
            await self._wakeup.wait()
        frames = list(self._frames)
        self._frames.clear()
        return frames


class _UserLink:
    """This instance's subscription to one user's subject, shared by their sockets."""

    __slots__ = ("connections", "failed", "live", "subscription")

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.subscription: Subscription | None = None
        self.live = asyncio.Event()
        self.failed = False

    async def deliver(self, msg: Msg) -> None:
        for connection in list(self.connections):
            connection.push(msg.data)


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
                    user_subject(caller.user_id), cb=link.deliver
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
            if link.subscription is not None:
                with contextlib.suppress(Exception):
                    await link.subscription.unsubscribe()

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
