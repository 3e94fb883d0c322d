"""Composition root of session-service: settings -> runtime -> signer -> gRPC server."""

from __future__ import annotations

from messenger.pb.session.v1 import session_pb2_grpc as pb_grpc
from messenger.platform.config import Settings
from messenger.platform.grpc import ServiceRegistration, start_grpc_server
from messenger.platform.runtime import service_runtime, wait_forever
from messenger.session import service, store
from messenger.session.api import SERVICE_NAME, SessionServicer
from messenger.session.tokens import Signer


async def serve(settings: Settings) -> None:
    async with service_runtime(settings, "session", store.outbox) as rt:
        key = await service.ensure_signing_key(rt.uow)
        signer = Signer(key, settings.access_token_ttl_seconds)
        servicer = SessionServicer(rt.uow, signer, settings.refresh_token_ttl_seconds)
        server = await start_grpc_server(
            settings.session_addr,
            [
                ServiceRegistration(
                    pb_grpc.add_SessionServiceServicer_to_server, servicer, SERVICE_NAME
                )
            ],
        )
        try:
            await wait_forever()
        finally:
            await server.stop(5)
