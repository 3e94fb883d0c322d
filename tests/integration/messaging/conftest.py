"""messaging-service and the contact-service it asks, both running for real (gRPC, their
own databases, one NATS), plus helpers to make users and friendships."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from messenger.contact.main import serve as serve_contact
from messenger.messaging.main import serve as serve_messaging
from messenger.pb.contact.v1 import contact_pb2 as contact_pb
from messenger.pb.contact.v1.contact_pb2_grpc import ContactServiceStub
from messenger.pb.messaging.v1.messaging_pb2_grpc import MessagingServiceStub
from messenger.platform import bus
from messenger.platform.config import Settings
from messenger.platform.db import database_url
from messenger.platform.events import Envelope
from messenger.platform.grpc import channel, rpc
from messenger.platform.ids import new_id
from messenger.platform.migrations import upgrade
from messenger.platform.process import wait_for_port

DEADLINE = 10.0


@dataclass
class Services:
    contact: ContactServiceStub
    messaging: MessagingServiceStub
    js: JetStreamContext

    async def users(self, count: int) -> list[str]:
        """New users, known to contact-service (as if auth-service had registered them)."""
        ids = [new_id() for _ in range(count)]
        last_seq = 0
        for user_id in ids:
            envelope = Envelope.new(
                "user.created",
                {"user_id": user_id, "username": f"u{user_id[:12]}", "display_name": None},
                producer="auth",
                request_id=None,
            )
            ack = await self.js.publish(
                envelope.subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id}
            )
            last_seq = ack.seq
        await self.consumed("contact-users", last_seq)
        return ids

    async def befriend(self, a: str, b: str) -> None:
        await rpc(
            self.contact.AddFriend,
            contact_pb.AddFriendRequest(user_id=a, other_user_id=b),
            deadline=DEADLINE,
        )
        await rpc(
            self.contact.AcceptFriend,
            contact_pb.FriendPair(user_id=b, other_user_id=a),
            deadline=DEADLINE,
        )

    async def unfriend(self, a: str, b: str) -> None:
        await rpc(
            self.contact.RemoveFriend,
            contact_pb.FriendPair(user_id=a, other_user_id=b),
            deadline=DEADLINE,
        )

    async def consumed(self, durable: str, stream_seq: int | None = None) -> None:
        """Until `durable` has acked everything in the stream up to `stream_seq` (default:
        all there is now)."""
        if stream_seq is None:
            stream_seq = (await self.js.stream_info(bus.STREAM)).state.last_seq
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(NotFoundError):
                info = await self.js.consumer_info(bus.STREAM, durable)
                if (info.ack_floor.stream_seq or 0) >= stream_seq or (
                    info.num_pending == 0
                    and info.num_ack_pending == 0
                    and info.delivered.stream_seq >= stream_seq
                ):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{durable} did not consume up to {stream_seq}")
            await asyncio.sleep(0.02)

    async def events(
        self, subject: str, count: int, timeout: float = 10
    ) -> list[tuple[Envelope, str | None]]:
        """The first `count` events on `subject` in the stream, with their Nats-Msg-Id."""
        subscription = await self.js.pull_subscribe(subject, stream=bus.STREAM)
        found: list[tuple[Envelope, str | None]] = []
        deadline = time.monotonic() + timeout
        try:
            while len(found) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {len(found)} of {count} events on {subject}")
                with contextlib.suppress(TimeoutError):
                    for msg in await subscription.fetch(count - len(found), timeout=0.5):
                        headers = msg.headers or {}
                        found.append((Envelope.from_json(msg.data), headers.get("Nats-Msg-Id")))
                        await msg.ack()
        finally:
            await subscription.unsubscribe()
        return found


async def _start(
    serve: Callable[[Settings], Awaitable[None]], settings: Settings, service: str, addr: str
) -> asyncio.Task[None]:
    await upgrade(service, database_url(settings, service))
    task = asyncio.create_task(serve(settings))
    host, port = addr.rsplit(":", 1)
    await wait_for_port(host, int(port), timeout=20)
    return task


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    assert settings.nats_url is not None
    nats: NatsClient = await bus.connect(settings.nats_url, name="messaging-tests")
    tasks = [
        await _start(serve_contact, settings, "contact", settings.contact_addr),
        await _start(serve_messaging, settings, "messaging", settings.messaging_addr),
    ]
    contact_channel = channel(settings.contact_addr)
    messaging_channel = channel(settings.messaging_addr)
    try:
        yield Services(
            ContactServiceStub(contact_channel),
            MessagingServiceStub(messaging_channel),
            nats.jetstream(),
        )
    finally:
        await messaging_channel.close()
        await contact_channel.close()
        for task in reversed(tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await nats.close()
