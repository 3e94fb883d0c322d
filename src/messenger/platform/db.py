"""Each service's own database: a SQLite file by default, or its own PostgreSQL database.

Writes go through `UnitOfWork` (platform.uow); this module only knows how to reach and
configure a database.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from messenger.platform.config import Settings

_IMMEDIATE = "messenger_immediate"
_SQLITE_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


def database_url(settings: Settings, service: str) -> URL:
    """The service's URL: `<data_dir>/<service>.db`, or `<database>_<service>` on PostgreSQL."""
    if not settings.database_url:
        path = (settings.data_dir / f"{service}.db").resolve()
        return make_url(f"sqlite+aiosqlite:///{path}")
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    base = url.database or "messenger"
    return url.set(drivername="postgresql+asyncpg", database=f"{base}_{service}")


async def ensure_database(url: URL) -> None:
    """Create the database when it is missing (SQLite creates its file by itself)."""
    if url.get_backend_name() == "sqlite":
        if url.database:
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database="postgres",
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if not exists:
            with suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await conn.close()


async def drop_database(url: URL) -> None:
    """Used by tests to clean up the uniquely named databases they made."""
    if url.get_backend_name() == "sqlite":
        return
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database="postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await conn.close()


def create_engine(url: URL) -> AsyncEngine:
    """An engine whose write transactions serialize correctly on SQLite too.

    SQLite's default deferred BEGIN lets two writers both read and then fail to upgrade
    their lock; write units of work ask for BEGIN IMMEDIATE instead, so they queue on
    `busy_timeout`. WAL keeps readers from blocking on writers. Within one process,
    writers also queue on an asyncio lock (`write_transaction`): SQLite's busy handler
    polls with sleeps of up to 100 ms, which under concurrent writes costs far more than
    the writes themselves.
    """
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    # Every use of a connection ends its own transaction (write_transaction,
    # read_transaction, the migrations), so the pool's rollback on return would only
    # repeat a finished ROLLBACK or COMMIT: on SQLite that is one more round trip to
    # aiosqlite's thread for every transaction.
    engine = create_async_engine(url, connect_args={"timeout": 30}, pool_reset_on_return=None)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL is a property of the file, set once (by the migrations). Asking again
        # takes a lock for which SQLite may answer "database is locked" at once, without
        # waiting: it did when two instances connected together.
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    _SQLITE_WRITERS[engine] = asyncio.Lock()
    return engine


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: committed on success, rolled back on error."""
    writers: AbstractAsyncContextManager[Any] = _SQLITE_WRITERS.get(engine) or nullcontext()
    async with writers, engine.connect() as conn:
        conn = await conn.execution_options(**{_IMMEDIATE: True})
        async with conn.begin():
            yield conn


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A consistent snapshot for reads; never takes SQLite's write lock."""
    async with engine.connect() as conn, conn.begin():
        yield conn
