"""contact-service tables and queries: the only module here that speaks SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from messenger.contact.domain import ACCEPTED, Friendship, ordered_pair
from messenger.platform.outbox import define_inbox, define_outbox

metadata = MetaData()
outbox = define_outbox(metadata)
inbox = define_inbox(metadata)

users = Table(
    "users",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("display_name", Text, nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
)

# The primary key on the ordered pair is what makes two crossing requests collide.
friendships = Table(
    "friendships",
    metadata,
    Column("user_low", String(32), primary_key=True),
    Column("user_high", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("requester_id", String(32), nullable=False),
    Column("requested_at_ms", BigInteger, nullable=False),
    Column("accepted_at_ms", BigInteger, nullable=True),
    CheckConstraint("user_low < user_high", name="ck_friendships_ordered"),
    Index("ix_friendships_user_high", "user_high"),
)


class DuplicateKeyError(Exception):
    """A unique key refused the row: a concurrent transaction wrote it first."""


def _to_friendship(row: Any) -> Friendship:
    return Friendship(
        user_low=row.user_low,
        user_high=row.user_high,
        status=row.status,
        requester_id=row.requester_id,
        requested_at_ms=row.requested_at_ms,
        accepted_at_ms=row.accepted_at_ms,
    )


async def add_user(
    conn: AsyncConnection,
    *,
    user_id: str,
    username: str,
    display_name: str | None,
    created_at_ms: int,
) -> None:
    """Idempotent: a user already known is left as it is."""
    values = {
        "user_id": user_id,
        "username": username,
        "display_name": display_name,
        "created_at_ms": created_at_ms,
    }
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(users).values(**values).on_conflict_do_nothing(index_elements=["user_id"])
    )


async def user_exists(conn: AsyncConnection, user_id: str) -> bool:
    found = await conn.scalar(select(exists().where(users.c.user_id == user_id)))
    return bool(found)


async def get_friendship(
    conn: AsyncConnection, a: str, b: str, *, lock: bool = False
) -> Friendship | None:
    """The pair's record; `lock` holds its row until commit (PostgreSQL) so that
    concurrent accept/decline/remove of the same pair serialize."""
    low, high = ordered_pair(a, b)
    query = select(friendships).where(
        friendships.c.user_low == low, friendships.c.user_high == high
    )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _to_friendship(row)


async def insert_friendship(conn: AsyncConnection, record: Friendship) -> None:
    try:
        await conn.execute(
            friendships.insert().values(
                user_low=record.user_low,
                user_high=record.user_high,
                status=record.status,
                requester_id=record.requester_id,
                requested_at_ms=record.requested_at_ms,
                accepted_at_ms=record.accepted_at_ms,
            )
        )
    except IntegrityError as exc:
        raise DuplicateKeyError(str(exc.orig)) from exc


async def save_acceptance(conn: AsyncConnection, record: Friendship) -> None:
    await conn.execute(
        update(friendships)
        .where(
            friendships.c.user_low == record.user_low,
            friendships.c.user_high == record.user_high,
        )
        .values(status=record.status, accepted_at_ms=record.accepted_at_ms)
    )


async def delete_friendship(conn: AsyncConnection, record: Friendship) -> None:
    await conn.execute(
        delete(friendships).where(
            friendships.c.user_low == record.user_low,
            friendships.c.user_high == record.user_high,
        )
    )


async def friendships_of(conn: AsyncConnection, user_id: str) -> list[Friendship]:
    rows = await conn.execute(
        select(friendships).where(
            or_(friendships.c.user_low == user_id, friendships.c.user_high == user_id)
        )
    )
    return [_to_friendship(row) for row in rows]


_ACCEPTED_AMONG = select(friendships.c.user_low, friendships.c.user_high).where(
    # One IN per column of the key: SQLite answers a row-value IN by scanning the whole
    # table, but searches the primary key for these.
    friendships.c.user_low.in_(bindparam("lows", expanding=True)),
    friendships.c.user_high.in_(bindparam("highs", expanding=True)),
    friendships.c.status == ACCEPTED,
)


def accepted_among(conn: Connection, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these ordered (low, high) pairs are accepted friendships."""
    if not pairs:
        return set()
    rows = conn.execute(
        _ACCEPTED_AMONG,
        {"lows": sorted({low for low, _ in pairs}), "highs": sorted({high for _, high in pairs})},
    )
    return {(row.user_low, row.user_high) for row in rows} & pairs
