"""Helpers for the auth and session integration tests: run a real service in the test's
event loop, and watch the events that reach JetStream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import nats
from nats.aio.msg import Msg
from sqlalchemy import MetaData, select
from sqlalchemy.sql import Executable

from messenger.platform import bus
from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine, write_transaction
from messenger.platform.events import Envelope
from messenger.platform.migrations import upgrade
from messenger.platform.process import wait_for_port


@asynccontextmanager
async def running(
    settings: Settings,
    service: str,
    serve: Callable[[Settings], Coroutine[Any, Any, None]],
    addr: str,
) -> AsyncIterator[None]:
    """Migrate the service's database, serve it as a task, and stop it afterwards."""
    await upgrade(service, database_url(settings, service))
    task = asyncio.create_task(serve(settings))
    host, _, port = addr.rpartition(":")
    try:
        await wait_for_port(host, int(port), timeout=20)
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class EventLog:
    """Every envelope published on the stream under `messenger.>`, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Envelope]] = []
        self._changed = asyncio.Event()

    async def on_message(self, msg: Msg) -> None:
        self.events.append((msg.subject, Envelope.from_json(msg.data)))
        self._changed.set()

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for _, e in self.events if e.type == event_type]

    async def wait_for(
        self, event_type: str, count: int = 1, *, timeout: float = 5.0, **data: Any
    ) -> list[Envelope]:
        """Wait until `count` events of the type whose data contains `data` have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                e
                for e in self.of_type(event_type)
                if all(e.data.get(k) == v for k, v in data.items())
            ]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} {event_type} {data}, got {found}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue


@asynccontextmanager
async def event_log(nats_url: str) -> AsyncIterator[EventLog]:
    """An ordered JetStream consumer of `messenger.>`: what it sees was stored durably."""
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await bus.ensure_stream(js)
    log = EventLog()
    subscription = await js.subscribe("messenger.>", cb=log.on_message, ordered_consumer=True)
    try:
        yield log
    finally:
        await subscription.unsubscribe()
        await client.close()


async def database_dump(settings: Settings, service: str, metadata: MetaData) -> str:
    """Every value of every table of the service, as one string to search for secrets."""
    engine = create_engine(database_url(settings, service))
    try:
        async with engine.connect() as conn:
            parts = [
                repr(tuple(row))
                for table in metadata.sorted_tables
                for row in await conn.execute(select(table))
            ]
    finally:
        await dispose_engine(engine)
    return "\n".join(parts)


async def execute(settings: Settings, service: str, statement: Executable) -> None:
    """Change the service's database directly, to stage what only time would bring."""
    engine = create_engine(database_url(settings, service))
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(statement)
    finally:
        await dispose_engine(engine)
