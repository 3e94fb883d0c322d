"""A real session-service per test, and the events it publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from messenger.pb.session.v1 import session_pb2_grpc as pb_grpc
from messenger.platform.config import Settings
from messenger.platform.grpc import channel
from messenger.session.main import serve
from tests.integration.session.harness import EventLog, event_log, running


@pytest.fixture
async def events(nats_url: str) -> AsyncIterator[EventLog]:
    async with event_log(nats_url) as log:
        yield log


@pytest.fixture
async def sessions(
    settings: Settings, events: EventLog
) -> AsyncIterator[pb_grpc.SessionServiceAsyncStub]:
    async with (
        running(settings, "session", serve, settings.session_addr),
        channel(settings.session_addr) as chan,
    ):
        yield cast("pb_grpc.SessionServiceAsyncStub", pb_grpc.SessionServiceStub(chan))
