"""contact-service running for real (gRPC + its database + NATS), and helpers to feed it
`user.created` events the way auth-service would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from messenger.contact.main import serve
from messenger.pb.contact.v1.contact_pb2_grpc import ContactServiceStub
from messenger.platform import bus
from messenger.platform.config import Settings
from messenger.platform.db import database_url
from messenger.platform.events import Envelope
from messenger.platform.grpc import channel
from messenger.platform.ids import new_id
from messenger.platform.migrations import upgrade
from messenger.platform.process import wait_for_port


@pytest.fixture
async def nats(settings: Settings) -> AsyncIterator[NatsClient]:
    assert settings.nats_url is not None
    client = await bus.connect(settings.nats_url, name="contact-tests")
    await bus.ensure_stream(client.jetstream())
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def contact(settings: Settings) -> AsyncIterator[ContactServiceStub]:
    """The real contact-service on its free port, migrated first."""
    await upgrade("contact", database_url(settings, "contact"))
    task = asyncio.create_task(serve(settings))
    host, port = settings.contact_addr.rsplit(":", 1)
    await wait_for_port(host, int(port), timeout=20)
    grpc_channel = channel(settings.contact_addr)
    try:
        yield ContactServiceStub(grpc_channel)
    finally:
        await grpc_channel.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_consumed(js: JetStreamContext, durable: str, stream_seq: int) -> None:
    """Until the service's durable consumer has acked everything up to `stream_seq`."""
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(NotFoundError):
            info = await js.consumer_info(bus.STREAM, durable)
            if info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= stream_seq:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{durable} did not consume up to {stream_seq}")
        await asyncio.sleep(0.02)


async def create_users(js: JetStreamContext, count: int) -> list[str]:
    """Publish `user.created` as auth-service does and wait until contact has them."""
    ids = [new_id() for _ in range(count)]
    last_seq = 0
    for user_id in ids:
        envelope = Envelope.new(
            "user.created",
            {
                "user_id": user_id,
                "username": f"u{user_id[:12]}",
                "display_name": f"User {user_id[:4]}",
                "created_at": "2026-01-02T03:04:05.678Z",
            },
            producer="auth",
            request_id=None,
        )
        ack = await js.publish(
            envelope.subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id}
        )
        last_seq = ack.seq
    await wait_consumed(js, "contact-users", last_seq)
    return ids


UserFactory = Callable[[int], Awaitable[list[str]]]
EventCollector = Callable[[str, int], Awaitable[list[tuple[Envelope, str | None]]]]


async def collect_events(
    js: JetStreamContext, subject: str, count: int, timeout: float = 10
) -> list[tuple[Envelope, str | None]]:
    """The first `count` events on `subject` in the stream, with their Nats-Msg-Id."""
    subscription = await js.pull_subscribe(subject, stream=bus.STREAM)
    found: list[tuple[Envelope, str | None]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(found)} of {count} events on {subject}")
            with contextlib.suppress(TimeoutError):
                for msg in await subscription.fetch(count - len(found), timeout=0.5):
                    found.append(
                        (Envelope.from_json(msg.data), (msg.headers or {}).get("Nats-Msg-Id"))
                    )
                    await msg.ack()
    finally:
        await subscription.unsubscribe()
    return found


@pytest.fixture
def make_users(nats: NatsClient, contact: ContactServiceStub) -> UserFactory:
    """`await make_users(n)`: n new users that contact-service already knows."""
    return lambda count: create_users(nats.jetstream(), count)


@pytest.fixture
def events(nats: NatsClient) -> EventCollector:
    """`await events(subject, n)`: the first n events published on `subject`."""
    return lambda subject, count: collect_events(nats.jetstream(), subject, count)
