"""The gRPC server every service starts (platform/grpc.py)."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from messenger.platform.grpc import channel, start_grpc_server
from messenger.platform.process import free_port

pytestmark = pytest.mark.backend_neutral


async def test_a_taken_port_is_refused_not_shared() -> None:
    """gRPC's default SO_REUSEPORT would let a second server share the port, and clients
    would reach either one at random."""
    addr = f"127.0.0.1:{free_port()}"
    first = await start_grpc_server(addr, [])
    try:
        with pytest.raises((OSError, RuntimeError)):
            await start_grpc_server(addr, [])
        client = channel(addr)
        try:
            stub = health_pb2_grpc.HealthStub(client)
            answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            await client.close()
    finally:
        await first.stop(None)
