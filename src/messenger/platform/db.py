"""Each service's own database: a SQLite file by default, or its own PostgreSQL database.

Writes go through `UnitOfWork` (platform.uow); this module only knows how to reach and
configure a database.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from messenger.platform.config import Settings

R = TypeVar("R")

_IMMEDIATE = "messenger_immediate"


@dataclass(frozen=True)
class _SqliteSide:
    """What an SQLite engine needs beside itself: the lock its writers queue on in this
    process, and a synchronous engine on the same file with the one thread that uses it
    (`run_transaction`)."""

    writers: asyncio.Lock
    engine: Engine
    thread: ThreadPoolExecutor


_SQLITE: weakref.WeakKeyDictionary[AsyncEngine, _SqliteSide] = weakref.WeakKeyDictionary()


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
    _configure_sqlite(engine.sync_engine)
    side = sqlalchemy.create_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=1,
        pool_reset_on_return=None,
    )
    _configure_sqlite(side)
    _SQLITE[engine] = _SqliteSide(
        asyncio.Lock(), side, ThreadPoolExecutor(1, thread_name_prefix="sqlite")
    )
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
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

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def dispose_engine(engine: AsyncEngine) -> None:
    """Close the engine's connections (and on SQLite its thread)."""
    await engine.dispose()
    side = _SQLITE.pop(engine, None)
    if side is not None:
        side.thread.shutdown(wait=True)
        side.engine.dispose()


def _writers(engine: AsyncEngine) -> AbstractAsyncContextManager[Any]:
    side = _SQLITE.get(engine)
    return side.writers if side is not None else nullcontext()


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: committed on success, rolled back on error."""
    async with _writers(engine), engine.connect() as conn:
        conn = await conn.execution_options(**{_IMMEDIATE: True})
        async with conn.begin():
            yield conn


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A consistent snapshot for reads; never takes SQLite's write lock."""
    async with engine.connect() as conn, conn.begin():
        yield conn


async def run_transaction(
    engine: AsyncEngine, work: Callable[[Connection], R], *, write: bool
) -> R:
    """Run `work`, synchronous Core statements on one connection, as one transaction
    (committed when it returns, rolled back when it raises).

    For the hot paths: through aiosqlite every statement makes several trips between
    the event loop and the database thread, and on a busy machine each trip waits for
    a core, so a transaction of a few statements took milliseconds. Here an SQLite
    transaction is one trip to the engine's own thread. On PostgreSQL `work` runs in
    the event loop, its statements awaited on asyncpg as usual.
    """
    side = _SQLITE.get(engine)
    if side is None:
        transaction = write_transaction if write else read_transaction
        async with transaction(engine) as conn:
            return await conn.run_sync(work)

    def in_thread() -> R:
        with side.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: write})
            with conn.begin():
                return work(conn)

    async with side.writers if write else nullcontext():
        return await asyncio.get_running_loop().run_in_executor(
            side.thread, contextvars.copy_context().run, in_thread
        )
