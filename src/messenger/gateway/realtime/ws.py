"""`GET /v1/ws`: the token is checked before the upgrade (401 with API.md's error body),
then `ready` once the socket's subscription is live, then frames until the client
leaves, the session is revoked (frame, then close 4001), or the client falls too far
behind. Keep-alive pings and the dead-peer timeout are uvicorn's (20 s each).

The endpoint is a bare ASGI app in front of the FastAPI one: a socket lives for hours,
and every layer a request passes through (middlewares, routing, dependency solving)
would keep its frames and exit stacks alive for as long, for each of thousands of
sockets. Here an idle socket holds one task (its own ASGI call) and a `Connection`.
A plain HTTP request for the path is answered here too: 426 Upgrade Required to a GET
(after the token check, API.md's first error), 405 to any other method.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi.security import HTTPAuthorizationCredentials
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from messenger.gateway.auth import Caller
from messenger.gateway.deps import Gateway
from messenger.gateway.realtime.frames import READY, SESSION_REVOKED
from messenger.gateway.realtime.hub import ENDED, Connection, End
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.http import (
    HeadAsGetMiddleware,
    RequestContextMiddleware,
    error_response,
    request_id_of,
)
from messenger.platform.logging import bind_request_id, log

PATH = "/v1/ws"
SESSION_REVOKED_CLOSE_CODE = 4001
GOODBYE_SECONDS = 1.0


def bearer_token(scope: Scope) -> str | None:
    """`Authorization: Bearer <token>`, else the `access_token` query parameter
    (browsers cannot set headers on a WebSocket)."""
    header = Headers(scope=scope).get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None
    return QueryParams(scope.get("query_string", b"")).get("access_token") or None


class RealtimeApp:
    """`/v1/ws` and every WebSocket upgrade here (any other path: 404); every other
    request goes on to `app`."""

    def __init__(self, app: ASGIApp, gw: Gateway) -> None:
        self._app = app
        self._gw = gw
        self._not_upgraded = RequestContextMiddleware(
            HeadAsGetMiddleware(self._refuse_plain_http), service="gateway"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            request_id = request_id_of(scope)
            bind_request_id(request_id)
            try:
                await self._serve(scope, receive, send, request_id)
            finally:
                bind_request_id(None)
        elif scope["type"] == "http" and scope["path"] == PATH:
            await self._not_upgraded(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            if scope["path"] != PATH:
                # The only WebSocket is PATH; the app behind has none to offer.
                raise MessengerError(ErrorCode.NOT_FOUND, "No such path.")
            caller = await self._authenticate(scope)
        except MessengerError as exc:
            await _deny(send, exc, request_id)
            return
        await send({"type": "websocket.accept"})
        hub = self._gw.hub
        connection = Connection(caller, send)
        try:
            await hub.attach(connection)
            if connection.ended is None:
                await send({"type": "websocket.send", "text": READY})
            ended = await connection.until_ended(receive)
        except Exception as exc:
            # NATS unreachable, or the client left during the handshake.
            log.warning("websocket ended early", error=str(exc))
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1011})
            return
        finally:
            connection.stop_writing()
            await hub.detach(connection)
        if ended is not End.CLOSED:
            ENDED.labels(ended.value).inc()
        if ended is End.REVOKED:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(GOODBYE_SECONDS):
                    await send({"type": "websocket.send", "text": SESSION_REVOKED})
                    await send({"type": "websocket.close", "code": SESSION_REVOKED_CLOSE_CODE})

    async def _refuse_plain_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Without an upgrade the path has nothing to give: say how to ask for one."""
        if scope["method"] != "GET":
            response = error_response(
                MessengerError(ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed.")
            )
            response.headers["Allow"] = "GET"
        else:
            try:
                await self._authenticate(scope)
            except MessengerError as exc:
                response = error_response(exc)
            else:
                response = error_response(
                    MessengerError(
                        ErrorCode.INVALID_REQUEST,
                        "This path is a WebSocket: connect with `Upgrade: websocket`.",
                    )
                )
                response.status_code = 426
                response.headers.update({"Upgrade": "websocket", "Connection": "Upgrade"})
        await response(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Caller:
        """The REST token check (its own frame, so the token is not kept for the
        socket's lifetime)."""
        token = bearer_token(scope)
        if token is None:
            raise MessengerError(ErrorCode.UNAUTHENTICATED, "A bearer access token is required.")
        return await self._gw.authenticate(
            credentials=HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        )


async def _deny(send: Send, error: MessengerError, request_id: str) -> None:
    """Refuse the upgrade with an HTTP answer in API.md's error shape, with its request
    id like every answer."""
    response = error_response(error)
    response.headers["X-Request-Id"] = request_id
    await send(
        {
            "type": "websocket.http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "websocket.http.response.body", "body": response.body})
