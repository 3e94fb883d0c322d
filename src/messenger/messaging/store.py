"""messaging-service tables and queries: the only module here that speaks SQL."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from messenger.messaging.domain import Conversation, Message, ordered_members
from messenger.platform.ids import is_valid_id
from messenger.platform.outbox import define_inbox, define_outbox

metadata = MetaData()
outbox = define_outbox(metadata)
inbox = define_inbox(metadata)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("member_low", String(32), nullable=False),
    Column("member_high", String(32), nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_message_at_ms", BigInteger, nullable=True),
    UniqueConstraint("member_low", "member_high", name="uq_conversations_members"),
    Index("ix_conversations_member_high", "member_high"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sender_id", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("sent_at_ms", BigInteger, nullable=False),
    Column("client_message_id", String(64), nullable=False),
    UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
    UniqueConstraint(
        "conversation_id", "sender_id", "client_message_id", name="uq_messages_client_id"
    ),
)

read_positions = Table(
    "read_positions",
    metadata,
    Column("conversation_id", String(32), ForeignKey("conversations.id"), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("last_seen_seq", BigInteger, nullable=False),
)


class DuplicateKeyError(Exception):
    """A unique key refused the row: a concurrent transaction wrote it first."""


@dataclass(frozen=True)
class ConversationState:
    """A conversation as one member sees it, with every member's read position."""

    conversation: Conversation
    last_seen_seq: int
    read_positions: dict[str, int]


def _to_conversation(row: Any) -> Conversation:
    return Conversation(
        id=row.id,
        type=row.type,
        member_low=row.member_low,
        member_high=row.member_high,
        last_seq=row.last_seq,
        created_at_ms=row.created_at_ms,
        last_message_at_ms=row.last_message_at_ms,
    )


def _to_message(row: Any) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        seq=row.seq,
        sender_id=row.sender_id,
        text=row.text,
        sent_at_ms=row.sent_at_ms,
        client_message_id=row.client_message_id,
    )


def _insert_ignoring_duplicates(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> Any:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return insert(table).values(rows).on_conflict_do_nothing()


async def get_conversation(conn: AsyncConnection, conversation_id: str) -> Conversation | None:
    """None for an unknown id, and for a malformed one without asking the database."""
    if not is_valid_id(conversation_id):
        return None
    row = (
        await conn.execute(select(conversations).where(conversations.c.id == conversation_id))
    ).first()
    return None if row is None else _to_conversation(row)


async def get_direct_conversation(conn: AsyncConnection, a: str, b: str) -> Conversation | None:
    low, high = ordered_members(a, b)
    row = (
        await conn.execute(
            select(conversations).where(
                conversations.c.member_low == low, conversations.c.member_high == high
            )
        )
    ).first()
    return None if row is None else _to_conversation(row)


async def add_conversation(conn: AsyncConnection, conversation: Conversation) -> bool:
    """Insert unless the pair already has one (then a concurrent opener won); True when
    this call created it. Both members' read positions start at 0."""
    inserted = await conn.execute(
        _insert_ignoring_duplicates(
            conn,
            conversations,
            [
                {
                    "id": conversation.id,
                    "type": conversation.type,
                    "member_low": conversation.member_low,
                    "member_high": conversation.member_high,
                    "last_seq": conversation.last_seq,
                    "created_at_ms": conversation.created_at_ms,
                    "last_message_at_ms": conversation.last_message_at_ms,
                }
            ],
        )
    )
    if inserted.rowcount != 1:
        return False
    await conn.execute(
        read_positions.insert(),
        [
            {"conversation_id": conversation.id, "user_id": member, "last_seen_seq": 0}
            for member in conversation.members
        ],
    )
    return True


async def conversations_of(conn: AsyncConnection, user_id: str) -> list[ConversationState]:
    """Every conversation of the user with every member's read position, in one query:
    one row per member (the read positions' key begins with the conversation id)."""
    rows = await conn.execute(
        select(
            conversations,
            read_positions.c.user_id.label("reader_id"),
            read_positions.c.last_seen_seq,
        )
        .join(read_positions, read_positions.c.conversation_id == conversations.c.id)
        .where(or_(conversations.c.member_low == user_id, conversations.c.member_high == user_id))
    )
    found: dict[str, tuple[Conversation, dict[str, int]]] = {}
    for row in rows:
        if row.id not in found:
            found[row.id] = (_to_conversation(row), {})
        found[row.id][1][row.reader_id] = int(row.last_seen_seq)
    return [
        ConversationState(conversation, positions[user_id], positions)
        for conversation, positions in found.values()
        if user_id in positions
    ]


async def last_messages(conn: AsyncConnection, conversation_ids: list[str]) -> dict[str, Message]:
    """The newest message of each conversation (the one at its `last_seq`)."""
    if not conversation_ids:
        return {}
    rows = await conn.execute(
        select(messages)
        .join(
            conversations,
            and_(
                conversations.c.id == messages.c.conversation_id,
                conversations.c.last_seq == messages.c.seq,
            ),
        )
        .where(conversations.c.id.in_(conversation_ids))
    )
    return {row.conversation_id: _to_message(row) for row in rows}


async def unread_counts(conn: AsyncConnection, user_id: str) -> dict[str, int]:
    """Per conversation of `user_id`: messages from others above their read position."""
    rows = await conn.execute(
        select(messages.c.conversation_id, func.count())
        .join(
            read_positions,
            and_(
                read_positions.c.conversation_id == messages.c.conversation_id,
                read_positions.c.user_id == user_id,
            ),
        )
        .where(messages.c.sender_id != user_id, messages.c.seq > read_positions.c.last_seen_seq)
        .group_by(messages.c.conversation_id)
    )
    return {conversation_id: int(count) for conversation_id, count in rows}


async def unread_count(conn: AsyncConnection, conversation_id: str, user_id: str) -> int:
    count = await conn.scalar(
        select(func.count())
        .select_from(messages)
        .join(
            read_positions,
            and_(
                read_positions.c.conversation_id == messages.c.conversation_id,
                read_positions.c.user_id == user_id,
            ),
        )
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.sender_id != user_id,
            messages.c.seq > read_positions.c.last_seen_seq,
        )
    )
    return int(count or 0)


async def read_positions_of(conn: AsyncConnection, conversation_id: str) -> dict[str, int]:
    """Every member's read position in one conversation (user_id -> last_seen_seq)."""
    rows = await conn.execute(
        select(read_positions.c.user_id, read_positions.c.last_seen_seq).where(
            read_positions.c.conversation_id == conversation_id
        )
    )
    return {user: int(seq) for user, seq in rows}


async def read_position(conn: AsyncConnection, conversation_id: str, user_id: str) -> int:
    seq = await conn.scalar(
        select(read_positions.c.last_seen_seq).where(
            read_positions.c.conversation_id == conversation_id,
            read_positions.c.user_id == user_id,
        )
    )
    return int(seq or 0)


async def advance_read_position(
    conn: AsyncConnection, conversation_id: str, user_id: str, seq: int
) -> bool:
    """Move forward only (the WHERE makes a lower seq a no-op even under concurrency);
    True when it moved."""
    moved = await conn.execute(
        update(read_positions)
        .where(
            read_positions.c.conversation_id == conversation_id,
            read_positions.c.user_id == user_id,
            read_positions.c.last_seen_seq < seq,
        )
        .values(last_seen_seq=seq)
    )
    return bool(moved.rowcount)


ClientKey = tuple[str, str, str]
"""(conversation_id, sender_id, client_message_id): what makes a send a retry."""


# The send path's statements are built once: building and cache-keying a statement
# costs more CPU than SQLite takes to run it.

_FIND_BY_CLIENT_IDS = select(messages).where(
    # One IN per column of the unique key: SQLite answers a row-value IN by scanning
    # the whole table, but searches the key's index for these.
    messages.c.conversation_id.in_(bindparam("conversation_ids", expanding=True)),
    messages.c.sender_id.in_(bindparam("sender_ids", expanding=True)),
    messages.c.client_message_id.in_(bindparam("client_message_ids", expanding=True)),
)


def find_by_client_ids(conn: Connection, keys: list[ClientKey]) -> dict[ClientKey, Message]:
    """The stored messages among these client keys, in one query."""
    if not keys:
        return {}
    rows = conn.execute(
        _FIND_BY_CLIENT_IDS,
        {
            "conversation_ids": sorted({c for c, _, _ in keys}),
            "sender_ids": sorted({s for _, s, _ in keys}),
            "client_message_ids": sorted({m for _, _, m in keys}),
        },
    )
    wanted = set(keys)
    found = (_to_message(row) for row in rows)
    return {
        key: m
        for m in found
        if (key := (m.conversation_id, m.sender_id, m.client_message_id)) in wanted
    }


_LOCK_CONVERSATIONS = (
    select(conversations.c.id)
    .where(conversations.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(conversations.c.id)
    .with_for_update()
)


@functools.cache
def _allocate_seqs_statement(conversation_count: int) -> Any:
    """UPDATE … RETURNING for that many conversations (`id_<i>` takes `count_<i>`)."""
    c = conversations.c
    ids: list[BindParameter[str]] = [bindparam(f"id_{i}") for i in range(conversation_count)]
    now: BindParameter[int] = bindparam("now_ms")
    return (
        update(conversations)
        .where(c.id.in_(ids))
        .values(
            last_seq=c.last_seq
            + case(
                *((c.id == ids[i], bindparam(f"count_{i}")) for i in range(conversation_count)),
                else_=0,
            ),
            last_message_at_ms=case((c.last_message_at_ms > now, c.last_message_at_ms), else_=now),
        )
        .returning(c.id, c.last_seq, c.last_message_at_ms)
    )


def allocate_seqs(
    conn: Connection, counts: dict[str, int], now_ms: int
) -> dict[str, tuple[int, int]]:
    """Take `counts[id]` consecutive seqs in each conversation; returns each one's new
    last seq and the messages' time (never earlier than the previous message's).

    The UPDATE holds the conversations' rows until commit, so concurrent writers queue
    and seqs are unique; a rollback returns the numbers, so they stay gap-free. On
    PostgreSQL the rows are first locked in id order, so two writers cannot deadlock
    (SQLite has one writer at a time anyway).
    """
    ids = sorted(counts)
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_CONVERSATIONS, {"ids": ids})
    params: dict[str, Any] = {"now_ms": now_ms}
    for i, conversation_id in enumerate(ids):
        params[f"id_{i}"] = conversation_id
        params[f"count_{i}"] = counts[conversation_id]
    rows = conn.execute(_allocate_seqs_statement(len(ids)), params)
    return {row.id: (int(row.last_seq), int(row.last_message_at_ms)) for row in rows}


def add_messages(conn: Connection, batch: list[Message]) -> None:
    """One multi-row INSERT; a unique key hit (a retry stored by another instance
    meanwhile) fails the whole transaction."""
    try:
        conn.execute(
            messages.insert(),
            [
                {
                    "id": m.id,
                    "conversation_id": m.conversation_id,
                    "seq": m.seq,
                    "sender_id": m.sender_id,
                    "text": m.text,
                    "sent_at_ms": m.sent_at_ms,
                    "client_message_id": m.client_message_id,
                }
                for m in batch
            ],
        )
    except IntegrityError as exc:
        raise DuplicateKeyError(str(exc.orig)) from exc


def advance_read_positions(conn: Connection, positions: list[tuple[str, str, int]]) -> None:
    """`advance_read_position` for many (conversation_id, user_id, seq) at once."""
    if not positions:
        return
    conn.execute(
        update(read_positions)
        .where(
            read_positions.c.conversation_id == bindparam("b_conversation"),
            read_positions.c.user_id == bindparam("b_user"),
            read_positions.c.last_seen_seq < bindparam("b_seq"),
        )
        .values(last_seen_seq=bindparam("b_seq")),
        [{"b_conversation": c, "b_user": u, "b_seq": seq} for c, u, seq in positions],
    )


async def messages_page(
    conn: AsyncConnection,
    conversation_id: str,
    *,
    after: int | None,
    before: int | None,
    ascending: bool,
    count: int,
) -> list[Message]:
    """Up to `count` messages strictly between the bounds, in reading order."""
    query = select(messages).where(messages.c.conversation_id == conversation_id)
    if after is not None:
        query = query.where(messages.c.seq > after)
    if before is not None:
        query = query.where(messages.c.seq < before)
    order = messages.c.seq.asc() if ascending else messages.c.seq.desc()
    rows = await conn.execute(query.order_by(order).limit(count))
    return [_to_message(row) for row in rows]
