"""What every service process with a database shares: its engine, its NATS connection,
its unit-of-work factory, its outbox relay, and supervised background tasks.

A service's main.py opens `service_runtime(...)`, registers its consumers with
`runtime.spawn`, starts its server, and waits; leaving the block shuts everything down
in order (tasks, then NATS, then the engine).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.platform import bus
from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine
from messenger.platform.logging import log
from messenger.platform.outbox import OutboxRelay
from messenger.platform.uow import UnitOfWorkFactory


@dataclass
class Runtime:
    settings: Settings
    service: str
    engine: AsyncEngine
    nats: NatsClient
    js: JetStreamContext
    uow: UnitOfWorkFactory
    relay: OutboxRelay
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` in the background for the life of the process, restarting it if it
        crashes (a consumer must never silently stop)."""

        async def supervise() -> None:
            while True:
                try:
                    await work()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background task crashed; restarting", task=name)
                    await asyncio.sleep(1)

        self.tasks.append(asyncio.create_task(supervise(), name=name))


def require_nats_url(settings: Settings) -> str:
    if not settings.nats_url:
        raise SystemExit("MESSENGER_NATS_URL must be set (`messenger up` sets it by itself)")
    return settings.nats_url


@asynccontextmanager
async def service_runtime(
    settings: Settings, service: str, outbox: Table
) -> AsyncIterator[Runtime]:
    nats = await bus.connect(require_nats_url(settings), name=service)
    js = nats.jetstream()
    await bus.ensure_stream(js)
    engine = create_engine(database_url(settings, service))
    relay = OutboxRelay(engine, outbox, js)
    runtime = Runtime(
        settings=settings,
        service=service,
        engine=engine,
        nats=nats,
        js=js,
        uow=UnitOfWorkFactory(engine, outbox, producer=service, on_commit=relay.hand_over),
        relay=relay,
    )
    runtime.spawn("outbox-relay", relay.run)
    try:
        yield runtime
    finally:
        for task in runtime.tasks:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        await bus.close(nats)
        await dispose_engine(engine)


async def wait_forever() -> None:
    """Park the main task until the process is told to stop (the task is cancelled)."""
    await asyncio.Event().wait()
