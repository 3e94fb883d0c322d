"""The delivery rules of DESIGN.md, against a real nats-server and a real database:
outbox written in the state change's transaction, relayed at least once without
duplicates on the stream, consumers that apply each event exactly once and dead-letter
what keeps failing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.platform import bus
from messenger.platform.db import (
    create_engine,
    dispose_engine,
    drop_database,
    ensure_database,
    run_transaction,
    write_transaction,
)
from messenger.platform.events import Envelope
from messenger.platform.outbox import OutboxRelay, define_inbox, define_outbox
from messenger.platform.uow import SyncUnitOfWork, UnitOfWork, UnitOfWorkFactory
from tests.conftest import base_database_url

metadata = MetaData()
outbox = define_outbox(metadata)
inbox = define_inbox(metadata)
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", String(100), nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    base = base_database_url()
    url = make_url(f"{base}_platform" if base else f"sqlite+aiosqlite:///{tmp_path}/p.db")
    if base:
        url = url.set(drivername="postgresql+asyncpg")
    await ensure_database(url)
    value = create_engine(url)
    async with value.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield value
    finally:
        await dispose_engine(value)
        await drop_database(url)


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(nats_url)
    context = client.jetstream()
    await bus.ensure_stream(context)
    try:
        yield context
    finally:
        await client.close()


async def stream_messages(js: JetStreamContext, subject: str) -> list[Envelope]:
    info = await js.stream_info(bus.STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            raw = await js.get_msg(bus.STREAM, seq)
        except Exception:
            continue
        if raw.subject == subject and raw.data:
            found.append(Envelope.from_json(raw.data))
    return found


async def add_note(factory: UnitOfWorkFactory, text: str) -> Envelope:
    async with factory() as uow:
        await uow.conn.execute(notes.insert().values(text=text))
        return uow.emit("user.created", {"text": text})


async def test_event_commits_with_state_and_is_relayed_once(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    relay = OutboxRelay(engine, outbox, js)
    factory = UnitOfWorkFactory(engine, outbox, "test")
    sent = await add_note(factory, "hello")
    assert await relay.publish_pending() == 1
    on_stream = await stream_messages(js, "messenger.user.created")
    assert [e.id for e in on_stream] == [sent.id]
    assert on_stream[0].producer == "test"
    assert on_stream[0].data == {"text": "hello"}

    # A crash after publishing but before marking the row: the relay sends it again,
    # and JetStream drops the duplicate by Nats-Msg-Id.
    async with engine.begin() as conn:
        await conn.execute(update(outbox).values(published_at_ms=None))
    assert await relay.publish_pending() == 1
    assert len(await stream_messages(js, "messenger.user.created")) == 1


async def test_events_handed_over_on_commit_are_published_then_marked(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    relay = OutboxRelay(engine, outbox, js, poll_seconds=60, mark_seconds=0.1)
    factory = UnitOfWorkFactory(engine, outbox, "test", on_commit=relay.hand_over)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.2)  # the relay's first poll has run and found nothing
        sent = [await add_note(factory, f"n{i}") for i in range(3)]
        for _ in range(100):
            async with engine.connect() as conn:
                unmarked = await conn.scalar(
                    select(func.count())
                    .select_from(outbox)
                    .where(outbox.c.published_at_ms.is_(None))
                )
            if unmarked == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert unmarked == 0
    on_stream = await stream_messages(js, "messenger.user.created")
    assert [e.id for e in on_stream] == [e.id for e in sent]


async def test_rolled_back_work_leaves_no_event(engine: AsyncEngine) -> None:
    factory = UnitOfWorkFactory(engine, outbox, "test")

    async def fail_midway() -> None:
        async with factory() as uow:
            await uow.conn.execute(notes.insert().values(text="lost"))
            uow.emit("user.created", {"text": "lost"})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_midway()
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 0
        assert await conn.scalar(select(func.count()).select_from(notes)) == 0


async def test_synchronous_work_commits_its_events_with_it_or_nothing(
    engine: AsyncEngine,
) -> None:
    """`UnitOfWorkFactory.run` (the send path's one-trip transaction) keeps the outbox
    rule: events are staged in the work's transaction and handed over after commit."""
    handed: list[Envelope] = []
    factory = UnitOfWorkFactory(engine, outbox, "test", on_commit=handed.extend)

    def add(uow: SyncUnitOfWork) -> Envelope:
        uow.conn.execute(notes.insert().values(text="kept"))
        return uow.emit("user.created", {"text": "kept"}, request_id="req-1")

    def fail_midway(uow: SyncUnitOfWork) -> None:
        uow.conn.execute(notes.insert().values(text="lost"))
        uow.emit("user.created", {"text": "lost"})
        raise RuntimeError("boom")

    sent = await factory.run(add)
    with pytest.raises(RuntimeError):
        await factory.run(fail_midway)
    assert [e.id for e in handed] == [sent.id]
    assert sent.request_id == "req-1"
    async with engine.connect() as conn:
        assert (await conn.execute(select(outbox.c.event_id))).scalars().all() == [sent.id]
        assert (await conn.execute(select(notes.c.text))).scalars().all() == ["kept"]


async def test_one_trip_and_async_writers_queue_behind_each_other(engine: AsyncEngine) -> None:
    """Read-modify-write from both kinds of transaction at once loses no update."""
    async with engine.begin() as conn:
        await conn.execute(notes.insert().values(id=1, text="0"))
    current = select(notes.c.text).where(notes.c.id == 1).with_for_update()

    def bump(conn: Connection) -> None:
        value = int(conn.scalar(current) or 0)
        conn.execute(update(notes).where(notes.c.id == 1).values(text=str(value + 1)))

    async def bump_async() -> None:
        async with write_transaction(engine) as conn:
            value = int(await conn.scalar(current) or 0)
            await asyncio.sleep(0)
            await conn.execute(update(notes).where(notes.c.id == 1).values(text=str(value + 1)))

    await asyncio.gather(
        *(run_transaction(engine, bump, write=True) for _ in range(20)),
        *(bump_async() for _ in range(20)),
    )
    async with engine.connect() as conn:
        assert await conn.scalar(select(notes.c.text).where(notes.c.id == 1)) == "40"


async def test_relay_publishes_rows_left_by_a_crash_when_it_starts(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    factory = UnitOfWorkFactory(engine, outbox, "test")
    written = [await add_note(factory, f"n{i}") for i in range(5)]
    relay = OutboxRelay(engine, outbox, js, poll_seconds=0.05)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(100):
            if len(await stream_messages(js, "messenger.user.created")) == 5:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    on_stream = await stream_messages(js, "messenger.user.created")
    assert [e.id for e in on_stream] == [e.id for e in written]


async def test_consumer_applies_each_event_once_and_dead_letters_poison(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    factory = UnitOfWorkFactory(engine, outbox, "test")
    attempts: dict[str, int] = {}

    async def handler(uow: UnitOfWork, envelope: Envelope) -> None:
        attempts[envelope.id] = attempts.get(envelope.id, 0) + 1
        if envelope.data.get("poison"):
            raise ValueError("cannot handle this one")
        await uow.conn.execute(notes.insert().values(text=envelope.data["text"]))

    consumer = bus.EventConsumer(
        js=js,
        uow_factory=factory,
        inbox=inbox,
        durable="test-notes",
        subject="messenger.user.created",
        handlers={"user.created": handler},
        max_deliver=3,
    )
    good = Envelope.new("user.created", {"text": "once"}, producer="t", request_id=None)
    poison = Envelope.new("user.created", {"poison": True}, producer="t", request_id=None)
    nc = js._nc  # the same connection, for a core subscription to the dead-letter subject
    dead_letters: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_dead(msg: Msg) -> None:
        await dead_letters.put(msg.data)

    await nc.subscribe("messenger.deadletter.test-notes", cb=on_dead)
    # The same event twice under different message ids: a redelivery the stream cannot
    # catch, which the inbox must.
    await js.publish(good.subject, good.to_json(), headers={"Nats-Msg-Id": "a"})
    await js.publish(good.subject, good.to_json(), headers={"Nats-Msg-Id": "b"})
    await js.publish(poison.subject, poison.to_json(), headers={"Nats-Msg-Id": "c"})
    await js.publish(good.subject, b"not json", headers={"Nats-Msg-Id": "d"})
    task = asyncio.create_task(consumer.run())
    try:
        first = await asyncio.wait_for(dead_letters.get(), 15)
        second = await asyncio.wait_for(dead_letters.get(), 15)
    finally:
        task.cancel()
    assert {first, second} == {poison.to_json(), b"not json"}
    assert attempts[poison.id] == 3
    async with engine.connect() as conn:
        texts = (await conn.execute(select(notes.c.text))).scalars().all()
    assert texts == ["once"]
    assert json.loads(poison.to_json())["id"] == poison.id
