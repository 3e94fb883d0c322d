"""profile-service's composition root: database, NATS consumers, outbox relay, HTTP."""

from __future__ import annotations

import asyncio

from messenger.platform.bus import EventConsumer
from messenger.platform.config import Settings
from messenger.platform.http_server import serve_http
from messenger.platform.runtime import Runtime, service_runtime
from messenger.profile import events, store
from messenger.profile.api import create_app
from messenger.profile.store import inbox, outbox


async def serve(settings: Settings) -> None:
    async with service_runtime(settings, "profile", outbox) as rt:
        rt.spawn(
            "user-events",
            EventConsumer(
                js=rt.js,
                uow_factory=rt.uow,
                inbox=inbox,
                durable="profile-users",
                subject="messenger.user.>",
                handlers={
                    "user.created": events.on_user_created,
                    "user.email_verified": events.on_email_verified,
                },
            ).run,
        )
        host, _, port = settings.profile_addr.rpartition(":")

        async def ready() -> bool:
            return rt.nats.is_connected and await _database_answers(rt)

        await serve_http(create_app(rt.uow, ready), host, int(port))


async def _database_answers(rt: Runtime) -> bool:
    try:
        async with asyncio.timeout(2):
            await store.ping(rt.engine)
    except Exception:
        return False
    return True
