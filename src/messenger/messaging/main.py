"""messaging-service composition root: runtime, contact client, friendship consumer,
gRPC server."""

from __future__ import annotations

from messenger.messaging import events, store
from messenger.messaging.api import SERVICE_NAME, MessagingApi
from messenger.messaging.contact_client import ContactClient
from messenger.messaging.directory import Directory
from messenger.messaging.sending import Sender
from messenger.pb.messaging.v1.messaging_pb2_grpc import add_MessagingServiceServicer_to_server
from messenger.platform.bus import EventConsumer
from messenger.platform.config import Settings
from messenger.platform.grpc import ServiceRegistration, channel, start_grpc_server
from messenger.platform.runtime import service_runtime, wait_forever


async def serve(settings: Settings) -> None:
    async with service_runtime(settings, "messaging", store.outbox) as rt:
        friendships = EventConsumer(
            js=rt.js,
            uow_factory=rt.uow,
            inbox=store.inbox,
            durable="messaging-friendships",
            subject="messenger.friendship.>",
            handlers={"friendship.accepted": events.on_friendship_accepted},
        )
        rt.spawn("messaging-friendships", friendships.run)
        contact_channel = channel(settings.contact_addr)
        contact = ContactClient(contact_channel, settings.rpc_timeout_seconds)
        server = await start_grpc_server(
            settings.messaging_addr,
            [
                ServiceRegistration(
                    add_MessagingServiceServicer_to_server,
                    MessagingApi(rt.uow, contact, Directory(rt.engine), Sender(rt.uow, contact)),
                    SERVICE_NAME,
                )
            ],
        )
        try:
            await wait_forever()
        finally:
            await server.stop(5)
            await contact_channel.close()
