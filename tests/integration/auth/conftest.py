"""A real auth-service and the real session-service it logs in through, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from messenger.auth.main import serve as serve_auth
from messenger.pb.auth.v1 import auth_pb2_grpc
from messenger.pb.session.v1 import session_pb2_grpc
from messenger.platform.config import Settings
from messenger.platform.grpc import channel
from messenger.session.main import serve as serve_session
from tests.integration.auth.helpers import Services
from tests.integration.session.harness import event_log, running


@pytest.fixture
async def services(settings: Settings, nats_url: str) -> AsyncIterator[Services]:
    settings = settings.model_copy(update={"login_max_failures_per_address": 8})
    async with (
        event_log(nats_url) as events,
        running(settings, "session", serve_session, settings.session_addr),
        running(settings, "auth", serve_auth, settings.auth_addr),
        channel(settings.auth_addr) as auth_channel,
        channel(settings.session_addr) as session_channel,
    ):
        yield Services(
            auth=cast(
                "auth_pb2_grpc.AuthServiceAsyncStub", auth_pb2_grpc.AuthServiceStub(auth_channel)
            ),
            sessions=cast(
                "session_pb2_grpc.SessionServiceAsyncStub",
                session_pb2_grpc.SessionServiceStub(session_channel),
            ),
            events=events,
            settings=settings,
        )
