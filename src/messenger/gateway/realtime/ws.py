"""`GET /v1/ws`: the token is checked before the upgrade (401 with API.md's error body),
then `ready` once the socket's subscription is live, then frames until the client
leaves, the session is revoked (frame, then close 4001), or the client falls too far
behind. Keep-alive pings and the dead-peer timeout are uvicorn's (20 s each)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from fastapi.security import HTTPAuthorizationCredentials

from messenger.gateway.auth import Caller
from messenger.gateway.deps import Gateway
from messenger.gateway.realtime.frames import READY, SESSION_REVOKED
from messenger.gateway.realtime.hub import ENDED, Connection, End, Hub
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.http import error_response
from messenger.platform.logging import log

SESSION_REVOKED_CLOSE_CODE = 4001
GOODBYE_SECONDS = 1.0


def bearer_token(websocket: WebSocket) -> str | None:
    """`Authorization: Bearer <token>`, else the `access_token` query parameter
    (browsers cannot set headers on a WebSocket)."""
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None
    return websocket.query_params.get("access_token") or None


def build(gw: Gateway) -> APIRouter:
    router = APIRouter(tags=["real time"])

    @router.websocket("/v1/ws")
    async def realtime(websocket: WebSocket) -> None:
        token = bearer_token(websocket)
        try:
            if token is None:
                raise MessengerError(
                    ErrorCode.UNAUTHENTICATED, "A bearer access token is required."
                )
            caller = await gw.authenticate(
                credentials=HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
            )
        except MessengerError as exc:
            await websocket.send_denial_response(error_response(exc))
            return
        await websocket.accept()
        await serve_socket(websocket, gw.hub, caller)

    return router


async def serve_socket(websocket: WebSocket, hub: Hub, caller: Caller) -> None:
    connection = Connection(caller)
    reader = asyncio.create_task(_read_until_closed(websocket, connection))
    writer: asyncio.Task[None] | None = None
    try:
        await hub.attach(connection)
        if connection.ended is None:
            await websocket.send_text(READY.decode())
            writer = asyncio.create_task(_write(websocket, connection))
            await connection.done.wait()
    except Exception as exc:
        # NATS unreachable, or the client left during the handshake.
        log.warning("websocket ended early", error=str(exc))
        with contextlib.suppress(Exception):
            await websocket.close(1011)
        return
    finally:
        reader.cancel()
        if writer is not None:
            writer.cancel()
        await hub.detach(connection)
    ended = connection.ended
    if ended is not None and ended is not End.CLOSED:
        ENDED.labels(ended.value).inc()
    if ended is End.REVOKED:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(GOODBYE_SECONDS):
                await websocket.send_text(SESSION_REVOKED.decode())
                await websocket.close(SESSION_REVOKED_CLOSE_CODE)


async def _write(websocket: WebSocket, connection: Connection) -> None:
    try:
        while True:
            for frame in await connection.take():
                await websocket.send_text(frame.decode())
    except asyncio.CancelledError:
        raise
    except Exception:
        connection.end(End.CLOSED)


async def _read_until_closed(websocket: WebSocket, connection: Connection) -> None:
    """Clients send nothing but ping/pong (answered by uvicorn); anything else is read
    and ignored, and the disconnect ends the socket."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        connection.end(End.CLOSED)
