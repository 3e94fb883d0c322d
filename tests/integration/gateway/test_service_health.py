"""Every gRPC service answers the standard health service and server reflection."""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from messenger.platform.grpc import channel
from tests.integration.gateway.conftest import System

SERVICES = {
    "auth_addr": "messenger.auth.v1.AuthService",
    "session_addr": "messenger.session.v1.SessionService",
    "contact_addr": "messenger.contact.v1.ContactService",
    "messaging_addr": "messenger.messaging.v1.MessagingService",
}


async def test_health_and_reflection_on_every_grpc_service(system: System) -> None:
    for field, full_name in SERVICES.items():
        async with channel(getattr(system.settings, field)) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            for name in ("", full_name):
                answer = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            reflection = reflection_pb2_grpc.ServerReflectionStub(ch)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for reply in reflection.ServerReflectionInfo(iter([request]), timeout=5):
                names = {s.name for s in reply.list_services_response.service}
                assert full_name in names
                assert "grpc.health.v1.Health" in names
                break
            else:
                raise AssertionError(f"no reflection answer from {full_name}")
