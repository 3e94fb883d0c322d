"""Transactional outbox: events are rows written with the state change, then relayed.

A crash between the commit and the publish loses nothing: the row stays unpublished and
the relay (of this or any other instance) sends it again; JetStream drops the duplicate
by its `Nats-Msg-Id`.
"""

from __future__ import annotations

import asyncio
import math
import time

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
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

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


def stage(conn: Connection, outbox: Table, envelopes: list[Envelope]) -> None:
    """Write events in the caller's transaction."""
    if not envelopes:
        return
    created = now_ms()
    conn.execute(
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
    """Publishes outbox rows to JetStream, in commit order.

    Events committed by this process are handed over in memory (`hand_over`, called by
    the unit of work), so the relay need not read them back; their rows are marked
    published in one UPDATE every `mark_seconds` rather than once per commit. Every
    `poll_seconds` the relay also reads the table for rows nobody handed over: those of
    a crashed run or of another instance. A row published but not yet marked when the
    process dies is published again on restart, and JetStream drops the duplicate by
    its `Nats-Msg-Id` (within the stream's duplicate window).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        js: JetStreamContext,
        *,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        mark_seconds: float = 0.2,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._js = js
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._mark_seconds = mark_seconds
        self._wake = asyncio.Event()
        self._handed: list[tuple[str, str, bytes]] = []
        self._unmarked: list[str] = []
        self._last_mark = time.monotonic()
        self._last_poll = -math.inf
        self._last_purge_ms = 0

    def hand_over(self, envelopes: list[Envelope]) -> None:
        """Committed events, to publish now."""
        self._handed.extend((e.id, e.subject, e.to_json()) for e in envelopes)
        self._wake.set()

    async def run(self) -> None:
        await drain_forever(
            self._cycle,
            batch_size=self._batch_size,
            wake=self._wake,
            poll_seconds=min(self._poll_seconds, self._mark_seconds),
            name="outbox-relay",
        )

    async def _cycle(self) -> int:
        sent = await self._publish_handed()
        if time.monotonic() - self._last_poll >= self._poll_seconds:
            self._last_poll = time.monotonic()
            sent += await self.publish_pending()
        if self._unmarked and (
            len(self._unmarked) >= self._batch_size
            or time.monotonic() - self._last_mark >= self._mark_seconds
        ):
            await self._mark(self._unmarked)
            self._unmarked = []
            self._last_mark = time.monotonic()
        if now_ms() - self._last_purge_ms > 60_000:
            await self._purge()
            self._last_purge_ms = now_ms()
        return sent

    async def _publish_handed(self) -> int:
        batch = self._handed[: self._batch_size]
        del self._handed[: len(batch)]
        # Should a publish fail, the rows stay unpublished in the table and the next
        # poll sends them.
        await self._publish(batch)
        self._unmarked.extend(event_id for event_id, _, _ in batch)
        return len(batch)

    async def publish_pending(self) -> int:
        """Read one batch of unpublished rows from the table, publish and mark them;
        returns how many it sent."""
        t = self._outbox
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.c.event_id, t.c.subject, t.c.payload)
                    .where(t.c.published_at_ms.is_(None))
                    .order_by(t.c.position)
                    .limit(self._batch_size)
                )
            ).all()
            await conn.rollback()
        in_hand = set(self._unmarked).union(event_id for event_id, _, _ in self._handed)
        batch = [
            (row.event_id, row.subject, row.payload.encode())
            for row in rows
            if row.event_id not in in_hand
        ]
        await self._publish(batch)
        await self._mark([event_id for event_id, _, _ in batch])
        return len(batch)

    async def _publish(self, batch: list[tuple[str, str, bytes]]) -> None:
        await asyncio.gather(
            *(
                self._js.publish(subject, payload, headers={"Nats-Msg-Id": event_id})
                for event_id, subject, payload in batch
            )
        )

    async def _mark(self, event_ids: list[str]) -> None:
        if not event_ids:
            return
        t = self._outbox
        async with write_transaction(self._engine) as conn:
            await conn.execute(
                update(t).where(t.c.event_id.in_(event_ids)).values(published_at_ms=now_ms())
            )

    async def _purge(self) -> None:
        t = self._outbox
        async with write_transaction(self._engine) as conn:
            await conn.execute(delete(t).where(t.c.published_at_ms < now_ms() - _KEEP_PUBLISHED_MS))
