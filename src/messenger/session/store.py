"""session-service tables and queries: the only module with SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from messenger.platform.outbox import define_inbox, define_outbox
from messenger.session.domain import RefreshToken, Session
from messenger.session.tokens import SigningKey

metadata = MetaData()
outbox = define_outbox(metadata)
inbox = define_inbox(metadata)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(32), primary_key=True),
    # Unique, so two instances starting at once cannot both create "the first" key.
    Column("generation", Integer, nullable=False, unique=True),
    Column("private_pem", Text, nullable=False),
    Column("public_pem", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("device_name", String(64), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_used_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Column("revoke_reason", String(64), nullable=True),
    Index("ix_sessions_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(32), ForeignKey("sessions.id"), nullable=False),
    Column("issued_at_ms", BigInteger, nullable=False),
    Column("rotated_at_ms", BigInteger, nullable=True),
    Column("expires_at_ms", BigInteger, nullable=False),
    Index("ix_refresh_tokens_session_id", "session_id"),
)


def _key(row: Any) -> SigningKey:
    return SigningKey(row.kid, row.generation, row.private_pem, row.public_pem, row.created_at_ms)


def _session(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        device_name=row.device_name,
        created_at_ms=row.created_at_ms,
        last_used_at_ms=row.last_used_at_ms,
        expires_at_ms=row.expires_at_ms,
        revoked_at_ms=row.revoked_at_ms,
    )


_SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.user_id,
    sessions.c.device_name,
    sessions.c.created_at_ms,
    sessions.c.last_used_at_ms,
    sessions.c.expires_at_ms,
    sessions.c.revoked_at_ms,
)


async def signing_keys_newest_first(conn: AsyncConnection) -> list[SigningKey]:
    t = signing_keys
    rows = await conn.execute(
        select(
            t.c.kid, t.c.generation, t.c.private_pem, t.c.public_pem, t.c.created_at_ms
        ).order_by(t.c.generation.desc())
    )
    return [_key(row) for row in rows]


async def insert_signing_key(conn: AsyncConnection, key: SigningKey) -> bool:
    """False when another instance took this generation at the same moment (two first
    starts, or two rotations): the unique constraint lets exactly one win."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                signing_keys.insert().values(
                    kid=key.kid,
                    generation=key.generation,
                    private_pem=key.private_pem,
                    public_pem=key.public_pem,
                    created_at_ms=key.created_at_ms,
                )
            )
    except IntegrityError:
        return False
    return True


async def delete_signing_keys(conn: AsyncConnection, kids: Sequence[str]) -> None:
    if kids:
        await conn.execute(delete(signing_keys).where(signing_keys.c.kid.in_(kids)))


async def insert_session(conn: AsyncConnection, session: Session) -> None:
    await conn.execute(
        sessions.insert().values(
            id=session.id,
            user_id=session.user_id,
            device_name=session.device_name,
            created_at_ms=session.created_at_ms,
            last_used_at_ms=session.last_used_at_ms,
            expires_at_ms=session.expires_at_ms,
            revoked_at_ms=None,
        )
    )


async def insert_refresh_token(conn: AsyncConnection, token: RefreshToken) -> None:
    await conn.execute(
        refresh_tokens.insert().values(
            token_hash=token.token_hash,
            session_id=token.session_id,
            issued_at_ms=token.issued_at_ms,
            rotated_at_ms=token.rotated_at_ms,
            expires_at_ms=token.expires_at_ms,
        )
    )


async def find_refresh_token(
    conn: AsyncConnection, token_hash: str
) -> tuple[RefreshToken, Session] | None:
    t = refresh_tokens
    row = (
        await conn.execute(
            select(
                t.c.token_hash,
                t.c.session_id,
                t.c.issued_at_ms,
                t.c.rotated_at_ms,
                t.c.expires_at_ms.label("token_expires_at_ms"),
                *_SESSION_COLUMNS,
            )
            .join(sessions, sessions.c.id == t.c.session_id)
            .where(t.c.token_hash == token_hash)
        )
    ).first()
    if row is None:
        return None
    token = RefreshToken(
        token_hash=row.token_hash,
        session_id=row.session_id,
        issued_at_ms=row.issued_at_ms,
        rotated_at_ms=row.rotated_at_ms,
        expires_at_ms=row.token_expires_at_ms,
    )
    return token, _session(row)


async def mark_rotated(conn: AsyncConnection, token_hash: str, now: int) -> bool:
    """Atomic: of concurrent refreshes with one token, exactly one sees True."""
    t = refresh_tokens
    result = await conn.execute(
        update(t)
        .where(t.c.token_hash == token_hash, t.c.rotated_at_ms.is_(None))
        .values(rotated_at_ms=now)
    )
    return result.rowcount == 1


async def touch_live_session(
    conn: AsyncConnection, session_id: str, now: int, expires_at_ms: int
) -> bool:
    """Move `last_used_at_ms`; False when the session was revoked meanwhile (on PostgreSQL
    the UPDATE waits for a concurrent revocation and then sees it)."""
    result = await conn.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at_ms.is_(None))
        .values(last_used_at_ms=now, expires_at_ms=expires_at_ms)
    )
    return result.rowcount == 1


async def get_session(conn: AsyncConnection, session_id: str) -> Session | None:
    row = (await conn.execute(select(*_SESSION_COLUMNS).where(sessions.c.id == session_id))).first()
    return None if row is None else _session(row)


async def live_sessions(conn: AsyncConnection, user_id: str, now: int) -> list[Session]:
    rows = await conn.execute(
        select(*_SESSION_COLUMNS)
        .where(
            sessions.c.user_id == user_id,
            sessions.c.revoked_at_ms.is_(None),
            sessions.c.expires_at_ms > now,
        )
        .order_by(sessions.c.created_at_ms, sessions.c.id)
    )
    return [_session(row) for row in rows]


async def revoke_sessions(
    conn: AsyncConnection, session_ids: Sequence[str], now: int, reason: str
) -> list[str]:
    """Revoke those still unrevoked; returns the ids this call revoked (a concurrent
    revocation of the same session counts once)."""
    if not session_ids:
        return []
    result = await conn.execute(
        update(sessions)
        .where(sessions.c.id.in_(session_ids), sessions.c.revoked_at_ms.is_(None))
        .values(revoked_at_ms=now, revoke_reason=reason)
        .returning(sessions.c.id)
    )
    return sorted(result.scalars())
