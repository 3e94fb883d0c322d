"""Unit of work: one write transaction that also stages the events it causes."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from messenger.platform.db import run_transaction, write_transaction
from messenger.platform.events import Envelope
from messenger.platform.logging import current_request_id
from messenger.platform.outbox import stage

R = TypeVar("R")


class _Events:
    """The events a transaction causes, staged in the outbox with it."""

    def __init__(self, producer: str) -> None:
        self._producer = producer
        self._events: list[Envelope] = []

    def emit(
        self, event_type: str, data: dict[str, Any], *, request_id: str | None = None
    ) -> Envelope:
        """Stage an event; it carries `request_id`, or by default the current one (a
        batch of many clients' calls names each event's own)."""
        envelope = Envelope.new(
            event_type,
            data,
            producer=self._producer,
            request_id=request_id or current_request_id(),
        )
        self._events.append(envelope)
        return envelope

    @property
    def events(self) -> list[Envelope]:
        return list(self._events)


class UnitOfWork(_Events):
    """`async with uow_factory() as uow:` — commit on success, with the events in the outbox.

    `uow.conn` is the transaction's connection, for the service's store functions.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        producer: str,
        on_commit: Callable[[list[Envelope]], None] | None = None,
    ) -> None:
        super().__init__(producer)
        self._engine = engine
        self._outbox = outbox
        self._on_commit = on_commit
        self._cm: Any = None
        self._conn: AsyncConnection | None = None

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        self._cm = write_transaction(self._engine)
        self._conn = await self._cm.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            if exc is None:
                await self.conn.run_sync(stage, self._outbox, self._events)
        except BaseException as staging_error:
            await self._cm.__aexit__(
                type(staging_error), staging_error, staging_error.__traceback__
            )
            raise
        result: bool | None = await self._cm.__aexit__(exc_type, exc, tb)
        self._conn = None
        if exc is None and self._events and self._on_commit is not None:
            self._on_commit(list(self._events))
        return result


class UnitOfWorkFactory:
    """Built once in a service's main.py and handed to its use-cases."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        producer: str,
        on_commit: Callable[[list[Envelope]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.producer = producer
        self.on_commit = on_commit

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.outbox, self.producer, self.on_commit)

    async def run(self, work: Callable[[SyncUnitOfWork], R]) -> R:
        """Run synchronous `work` as one unit of work (`db.run_transaction`: on SQLite,
        one trip to the database thread for the whole transaction)."""

        def transaction(conn: Connection) -> tuple[R, list[Envelope]]:
            uow = SyncUnitOfWork(conn, self.producer)
            result = work(uow)
            stage(conn, self.outbox, uow.events)
            return result, uow.events

        result, events = await run_transaction(self.engine, transaction, write=True)
        if events and self.on_commit is not None:
            self.on_commit(events)
        return result


class SyncUnitOfWork(_Events):
    """What `UnitOfWorkFactory.run` hands to its work: the transaction's connection, and
    `emit`."""

    def __init__(self, conn: Connection, producer: str) -> None:
        super().__init__(producer)
        self.conn = conn
