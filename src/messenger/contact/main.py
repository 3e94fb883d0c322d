"""contact-service composition root: runtime, the `user.created` consumer, the gRPC server."""

from __future__ import annotations

from messenger.contact import events, store
from messenger.contact.api import SERVICE_NAME, ContactApi
from messenger.pb.contact.v1.contact_pb2_grpc import add_ContactServiceServicer_to_server
from messenger.platform.bus import EventConsumer
from messenger.platform.config import Settings
from messenger.platform.grpc import ServiceRegistration, start_grpc_server
from messenger.platform.runtime import service_runtime, wait_forever


async def serve(settings: Settings) -> None:
    async with service_runtime(settings, "contact", store.outbox) as rt:
        users = EventConsumer(
            js=rt.js,
            uow_factory=rt.uow,
            inbox=store.inbox,
            durable="contact-users",
            subject="messenger.user.created",
            handlers={"user.created": events.on_user_created},
        )
        rt.spawn("contact-users", users.run)
        server = await start_grpc_server(
            settings.contact_addr,
            [
                ServiceRegistration(
                    add_ContactServiceServicer_to_server, ContactApi(rt.uow), SERVICE_NAME
                )
            ],
        )
        try:
            await wait_forever()
        finally:
            await server.stop(5)
