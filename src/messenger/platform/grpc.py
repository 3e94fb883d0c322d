"""gRPC plumbing shared by every service: one server shape, one client call shape.

Server side, a `MessengerError` becomes a status whose trailing metadata names the
`ErrorCode`; client side, `rpc()` turns it back into the same `MessengerError`, so an
error crosses any number of hops unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.heap import freeze_startup_heap
from messenger.platform.logging import bind_request_id, current_request_id, log

ERROR_CODE_KEY = "messenger-error-code"
RETRY_AFTER_KEY = "messenger-retry-after"
REQUEST_ID_KEY = "x-request-id"

R = TypeVar("R")


@dataclass(frozen=True)
class ServiceRegistration:
    """What a service's main.py hands to `serve_grpc`: the generated add function,
    the servicer, and the full service name (for health and reflection)."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    full_name: str


class _ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        request_id = dict(details.invocation_metadata or ()).get(REQUEST_ID_KEY)
        inner = handler.unary_unary
        method = details.method

        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            bind_request_id(request_id if isinstance(request_id, str) else None)
            started = time.perf_counter()
            outcome = "OK"
            try:
                return await inner(request, context)
            except MessengerError as exc:
                outcome = exc.code.name
                trailing: list[tuple[str, str]] = [(ERROR_CODE_KEY, exc.code.name)]
                if exc.retry_after is not None:
                    trailing.append((RETRY_AFTER_KEY, str(exc.retry_after)))
                await context.abort(exc.code.grpc_status, exc.message, tuple(trailing))
            except Exception:
                outcome = "INTERNAL"
                log.exception("unhandled error in rpc", method=method)
                raise
            finally:
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                log.info("rpc", method=method, outcome=outcome, ms=elapsed_ms)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def start_grpc_server(addr: str, services: Sequence[ServiceRegistration]) -> grpc.aio.Server:
    """Bind and start; the standard health service and reflection come with every server."""
    # gRPC binds with SO_REUSEPORT by default: a second server on a taken port would then
    # share it silently, the kernel handing each connection to either one (seen in tests
    # as "Method not found" from another system's service). Refuse the port instead.
    server = grpc.aio.server(
        interceptors=[_ServerInterceptor()], options=[("grpc.so_reuseport", 0)]
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in services:
        service.add_to_server(service.servicer, server)
    names = [s.full_name for s in services]
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    if server.add_insecure_port(addr) == 0:
        raise OSError(f"cannot listen on {addr}")
    freeze_startup_heap()
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc server listening", addr=addr, services=names)
    return server


def channel(addr: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        addr,
        options=[
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.enable_retries", 1),
        ],
    )


async def rpc(method: Callable[..., Awaitable[R]], request: Any, *, deadline: float) -> R:
    """Call with a deadline and the current request id; errors come back as MessengerError."""
    request_id = current_request_id()
    metadata = ((REQUEST_ID_KEY, request_id),) if request_id else ()
    try:
        return await method(request, timeout=deadline, metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        raise _translate(exc) from exc


def _translate(exc: grpc.aio.AioRpcError) -> MessengerError:
    trailing = dict(exc.trailing_metadata() or ())
    name = trailing.get(ERROR_CODE_KEY)
    if isinstance(name, str) and name in ErrorCode.__members__:
        retry = trailing.get(RETRY_AFTER_KEY)
        return MessengerError(
            ErrorCode[name],
            exc.details() or name,
            retry_after=int(retry) if isinstance(retry, str) and retry.isdigit() else None,
        )
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return MessengerError(
            ErrorCode.UNAVAILABLE, "A service is unavailable; try again.", retry_after=1
        )
    log.error("rpc failed without an error code", status=exc.code().name, details=exc.details())
    return MessengerError(ErrorCode.INTERNAL, "Internal error.")
