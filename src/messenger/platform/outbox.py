"""Transactional outbox: events are rows written with the state change, then relayed.

A crash between the commit and the publish loses nothing: the row stays unpublished and
the relay (of this or any other instance) sends it again; JetStream drops the duplicate
by its `Nats-Msg-Id`.
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from messenger.platform.batches import drain_forever
from messenger.platform.clock import now_ms
from messenger.platform.db import write_transaction
from messenger.platform.events import Envelope

_KEEP_PUBLISHED_MS = 3600 * 1000


def define_outbox(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("position", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(32), nullable=False, unique=True),
        Column("subject", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at_ms", BigInteger, nullable=False),
        Column("published_at_ms", BigInteger, nullable=True),
        Index("ix_outbox_unpublished", "published_at_ms", "position"),
    )


def define_inbox(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at_ms", BigInteger, nullable=False),
    )


async def stage(conn: AsyncConnection, outbox: Table, envelopes: list[Envelope]) -> None:
    """Write events in the caller's transaction."""
    if not envelopes:
        return
    created = now_ms()
    await conn.execute(
        outbox.insert(),
        [
            {
                "event_id": e.id,
                "subject": e.subject,
                "payload": e.to_json().decode(),
                "created_at_ms": created,
            }
            for e in envelopes
        ],
    )


class OutboxRelay:
    """Publishes unpublished outbox rows in order; woken on commit, polls as a fallback."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        js: JetStreamContext,
        *,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._js = js
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._last_purge_ms = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await drain_forever(
            self._publish_and_purge,
            batch_size=self._batch_size,
            wake=self._wake,
            poll_seconds=self._poll_seconds,
            name="outbox-relay",
        )

    async def _publish_and_purge(self) -> int:
        sent = await self.publish_pending()
        if now_ms() - self._last_purge_ms > 60_000:
            await self._purge()
            self._last_purge_ms = now_ms()
        return sent

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows it sent."""
        t = self._outbox
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.c.position, t.c.event_id, t.c.subject, t.c.payload)
                    .where(t.c.published_at_ms.is_(None))
                    .order_by(t.c.position)
                    .limit(self._batch_size)
                )
            ).all()
            await conn.rollback()
        if not rows:
            return 0
        await asyncio.gather(
            *(
                self._js.publish(
                    row.subject, row.payload.encode(), headers={"Nats-Msg-Id": row.event_id}
                )
                for row in rows
            )
        )
        async with write_transaction(self._engine) as conn:
            await conn.execute(
                update(t)
                .where(t.c.position.in_([row.position for row in rows]))
                .values(published_at_ms=now_ms())
            )
        return len(rows)

    async def _purge(self) -> None:
        t = self._outbox
        async with write_transaction(self._engine) as conn:
            await conn.execute(delete(t).where(t.c.published_at_ms < now_ms() - _KEEP_PUBLISHED_MS))
