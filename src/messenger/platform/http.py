"""HTTP plumbing for the gateway and profile-service: one error shape, request ids,
body limits, strict JSON bodies, HEAD wherever GET works, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as _StarletteJSONResponse
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.ids import new_id
from messenger.platform.logging import bind_request_id, log

MAX_BODY_BYTES = 64 * 1024
BODY_SECONDS = 30
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

M = TypeVar("M", bound=BaseModel)


class JSONResponse(_StarletteJSONResponse):
    """API.md's content type: `application/json; charset=utf-8`."""

    media_type = "application/json; charset=utf-8"


REQUESTS = Counter(
    "messenger_http_requests_total",
    "HTTP requests answered",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "messenger_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)


def error_response(error: MessengerError) -> JSONResponse:
    body: dict[str, Any] = {"code": error.code.api_code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse({"error": body}, status_code=error.code.http_status, headers=headers)


def error_response_for(exc: Exception) -> JSONResponse:
    """API.md's shape for any error; one not ours is logged and becomes 500 `internal`."""
    if isinstance(exc, MessengerError):
        return error_response(exc)
    log.error("unhandled error", error=repr(exc), exc_info=exc)
    return error_response(MessengerError(ErrorCode.INTERNAL, "Internal error."))


def install_error_handlers(app: FastAPI) -> None:
    """Every error, whoever raises it, leaves in API.md's shape."""

    async def on_messenger_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, MessengerError)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorCode.INVALID_REQUEST
        )
        message = {404: "No such path.", 405: "Method not allowed."}.get(
            exc.status_code, str(exc.detail)
        )
        response = error_response(MessengerError(code, message))
        response.status_code = exc.status_code
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            response.headers["allow"] = ", ".join(_methods_of_path(request))
        return response

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(_validation_error(exc.errors()))

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        return error_response_for(exc)

    app.add_exception_handler(MessengerError, on_messenger_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _methods_of_path(request: Request) -> list[str]:
    """Every method the path answers: its GET and its PATCH may be separate routes, and
    a 405 names only the route it found first. Asked of the routes with each method in
    turn, which works through included routers too."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def _validation_error(errors: Any) -> MessengerError:
    first = next(iter(errors), None)
    if not first:
        return MessengerError(ErrorCode.VALIDATION_FAILED, "Invalid request.")
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(location) or None
    message = str(first.get("msg", "Invalid value."))
    if field:
        message = f"{field}: {message}"
    return MessengerError(ErrorCode.VALIDATION_FAILED, message, field=field)


async def read_json(
    request: Request,
    model: type[M],
    *,
    before_validation_error: Callable[[], Awaitable[None]] | None = None,
) -> M:
    """Read and validate a JSON body in API.md's order of errors.

    413 for a body over 64 KiB, 400 for a body that is not JSON, then — when the route
    has a resource in its path — `before_validation_error` gets the chance to raise its
    404 before any 422, because API.md ranks "not visible" above "invalid body".
    """
    data = parse_json(await read_body(request))
    try:
        value = model.model_validate(data)
        # Only the fields the model keeps: unknown fields are ignored, bad strings too.
        reject_bad_strings(value.model_dump())
    except (ValidationError, MessengerError) as exc:
        if before_validation_error is not None:
            await before_validation_error()
        if isinstance(exc, MessengerError):
            raise
        raise _validation_error(exc.errors()) from None
    return value


async def read_body(request: Request) -> bytes:
    """The whole body, within 64 KiB and BODY_SECONDS (a client that trickles or stalls
    mid-body gets 400 instead of holding the request open)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
    except TimeoutError:
        raise MessengerError(
            ErrorCode.INVALID_REQUEST, f"The body did not arrive within {BODY_SECONDS} s."
        ) from None
    except ClientDisconnect:
        raise MessengerError(
            ErrorCode.INVALID_REQUEST, "The client went away before sending its body."
        ) from None
    return b"".join(chunks)


def _too_large() -> MessengerError:
    return MessengerError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
    )


def parse_json(body: bytes) -> Any:
    """A body that cannot be read is 400 before anything else (API.md's order), a
    number of more digits than Python reads (4,300) included."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(body.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MessengerError(
            ErrorCode.INVALID_REQUEST,
            "The body is not valid JSON (or holds a number of over 4,300 digits).",
        ) from None


def reject_bad_strings(value: Any, path: str = "") -> None:
    """API.md: strings holding NUL or lone surrogates are 422, wherever they are."""
    if isinstance(value, str):
        if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            raise MessengerError(
                ErrorCode.VALIDATION_FAILED,
                f"{path or 'value'}: contains NUL or a lone surrogate.",
                field=path or None,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_bad_strings(key, path)
            reject_bad_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_bad_strings(item, f"{path}[{index}]")


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def request_id_of(scope: Scope) -> str:
    """The client's `X-Request-Id` when well-formed, else a new id."""
    offered = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            offered = value.decode("latin-1")
            break
    return offered if _REQUEST_ID.fullmatch(offered) else new_id()


class RequestContextMiddleware:
    """Gives every request an id (the client's own when well-formed), echoes it in
    `X-Request-Id`, binds it to every log line, and counts the request in metrics."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        bind_request_id(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                route = getattr(scope.get("route"), "path", "unmatched")
                elapsed = time.perf_counter() - started
                REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
                LATENCY.labels(self.service, scope["method"], route).observe(elapsed)
                log.info(
                    "http request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round(elapsed * 1000, 1),
                )
            bind_request_id(None)


class HeadAsGetMiddleware:
    """HEAD works wherever GET does (RFC 9110 9.3.2; `curl -I`, uptime monitors): the
    request goes on as a GET and the answer leaves without its body but with every
    header, Content-Length included. FastAPI routes name GET alone, so without this HEAD
    would be 405 everywhere. A 405's `Allow` that offers GET offers HEAD too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        async def send_head(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                message = {**message, "headers": _allow_head(message.get("headers", ()))}
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        if not head:
            await self.app(scope, receive, send_head)
            return
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_head)
        finally:
            # The router notes the matched route in the scope it was given; the metrics
            # of RequestContextMiddleware (outside this one) read it from theirs.
            if "route" in as_get:
                scope["route"] = as_get["route"]


def _allow_head(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    found = []
    for name, value in headers:
        if name.lower() == b"allow":
            methods = [method.strip() for method in value.split(b",")]
            if b"GET" in methods and b"HEAD" not in methods:
                value = b", ".join([*methods, b"HEAD"])
        found.append((name, value))
    return found
