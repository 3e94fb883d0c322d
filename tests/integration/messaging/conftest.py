"""The `services` fixture: contact-service and messaging-service running for real."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from messenger.contact.main import serve as serve_contact
from messenger.messaging.main import serve as serve_messaging
from messenger.pb.contact.v1.contact_pb2_grpc import ContactServiceStub
from messenger.pb.messaging.v1.messaging_pb2_grpc import MessagingServiceStub
from messenger.platform import bus
from messenger.platform.config import Settings
from messenger.platform.grpc import channel
from tests.integration.messaging.messaging_harness import Services, start_service


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    assert settings.nats_url is not None
    nats = await bus.connect(settings.nats_url, name="messaging-tests")
    tasks = [
        await start_service(serve_contact, settings, "contact", settings.contact_addr),
        await start_service(serve_messaging, settings, "messaging", settings.messaging_addr),
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
