"""auth-service tables and queries: the only module with SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from messenger.auth.domain import Account, EmailToken, Mail, TokenPurpose
from messenger.platform.outbox import define_inbox, define_outbox

metadata = MetaData()
outbox = define_outbox(metadata)
inbox = define_inbox(metadata)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(1024), nullable=False),
    Column("email_lower", String(1024), nullable=False, unique=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("email_verified", Boolean, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

email_tokens = Table(
    "email_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("used_at_ms", BigInteger, nullable=True),
    Index("ix_email_tokens_user_id", "user_id"),
)

# Outgoing email, written in the same transaction as the token it carries; the body,
# which holds that token, is stored sealed (auth/sealing.py) and erased once delivered.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("recipient", String(1024), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("next_attempt_at_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sent_at_ms", BigInteger, nullable=True),
    Index("ix_mail_outbox_due", "sent_at_ms", "next_attempt_at_ms"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False),
    Column("failed_at_ms", BigInteger, nullable=False),
    Index("ix_login_failures_key", "key_hash", "failed_at_ms"),
)


@dataclass(frozen=True)
class OutgoingMail:
    id: str
    user_id: str
    created_at_ms: int
    attempts: int
    mail: Mail


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        email_lower=row.email_lower,
        username=row.username,
        password_hash=row.password_hash,
        email_verified=row.email_verified,
        created_at_ms=row.created_at_ms,
    )


async def taken_field(conn: AsyncConnection, email_lower: str, username: str) -> str | None:
    """ "email" or "username" when another account already holds it."""
    if await conn.scalar(select(accounts.c.id).where(accounts.c.email_lower == email_lower)):
        return "email"
    if await conn.scalar(select(accounts.c.id).where(accounts.c.username == username)):
        return "username"
    return None


async def insert_account(conn: AsyncConnection, account: Account) -> str | None:
    """Insert, or name the field that a concurrent registration took first (the unique
    constraints decide; the savepoint keeps the transaction usable)."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                accounts.insert().values(
                    id=account.id,
                    email=account.email,
                    email_lower=account.email_lower,
                    username=account.username,
                    password_hash=account.password_hash,
                    email_verified=account.email_verified,
                    created_at_ms=account.created_at_ms,
                )
            )
    except IntegrityError:
        return await taken_field(conn, account.email_lower, account.username) or "email"
    return None


async def find_account_by_login(conn: AsyncConnection, login_lower: str) -> Account | None:
    """By email or username (disjoint: a username never holds an @)."""
    row = (
        await conn.execute(
            select(accounts).where(
                or_(accounts.c.email_lower == login_lower, accounts.c.username == login_lower)
            )
        )
    ).first()
    return None if row is None else _account(row)


async def find_account_by_email(conn: AsyncConnection, email_lower: str) -> Account | None:
    row = (
        await conn.execute(select(accounts).where(accounts.c.email_lower == email_lower))
    ).first()
    return None if row is None else _account(row)


async def get_account(conn: AsyncConnection, user_id: str) -> Account | None:
    row = (await conn.execute(select(accounts).where(accounts.c.id == user_id))).first()
    return None if row is None else _account(row)


async def set_password_hash(conn: AsyncConnection, user_id: str, password_hash: str) -> None:
    await conn.execute(
        update(accounts).where(accounts.c.id == user_id).values(password_hash=password_hash)
    )


async def mark_verified(conn: AsyncConnection, user_id: str) -> bool:
    """True only for the call that flipped the flag."""
    result = await conn.execute(
        update(accounts)
        .where(accounts.c.id == user_id, accounts.c.email_verified == false())
        .values(email_verified=True)
    )
    return result.rowcount == 1


async def insert_email_token(conn: AsyncConnection, token: EmailToken) -> None:
    await conn.execute(
        email_tokens.insert().values(
            token_hash=token.token_hash,
            user_id=token.user_id,
            purpose=token.purpose.value,
            created_at_ms=token.created_at_ms,
            expires_at_ms=token.expires_at_ms,
            used_at_ms=token.used_at_ms,
        )
    )


async def find_email_token(
    conn: AsyncConnection, token_hash: str, purpose: TokenPurpose
) -> EmailToken | None:
    t = email_tokens
    row = (
        await conn.execute(
            select(t).where(t.c.token_hash == token_hash, t.c.purpose == purpose.value)
        )
    ).first()
    if row is None:
        return None
    return EmailToken(
        token_hash=row.token_hash,
        user_id=row.user_id,
        purpose=TokenPurpose(row.purpose),
        created_at_ms=row.created_at_ms,
        expires_at_ms=row.expires_at_ms,
        used_at_ms=row.used_at_ms,
    )


async def use_email_token(conn: AsyncConnection, token_hash: str, now: int) -> bool:
    """Atomic: of concurrent uses of one token, exactly one sees True."""
    t = email_tokens
    result = await conn.execute(
        update(t)
        .where(t.c.token_hash == token_hash, t.c.used_at_ms.is_(None), t.c.expires_at_ms > now)
        .values(used_at_ms=now)
    )
    return result.rowcount == 1


async def use_all_email_tokens(
    conn: AsyncConnection, user_id: str, purpose: TokenPurpose, now: int
) -> None:
    """Spend every unused token of the purpose (a new password voids older reset links)."""
    t = email_tokens
    await conn.execute(
        update(t)
        .where(t.c.user_id == user_id, t.c.purpose == purpose.value, t.c.used_at_ms.is_(None))
        .values(used_at_ms=now)
    )


async def insert_mail(
    conn: AsyncConnection, mail_id: str, user_id: str, mail: Mail, now: int
) -> None:
    await conn.execute(
        mail_outbox.insert().values(
            id=mail_id,
            user_id=user_id,
            recipient=mail.recipient,
            subject=mail.subject,
            body=mail.body,
            created_at_ms=now,
            next_attempt_at_ms=now,
            attempts=0,
            sent_at_ms=None,
        )
    )


async def due_mail(conn: AsyncConnection, now: int, limit: int) -> list[OutgoingMail]:
    m = mail_outbox
    rows = await conn.execute(
        select(m)
        .where(m.c.sent_at_ms.is_(None), m.c.next_attempt_at_ms <= now)
        .order_by(m.c.created_at_ms, m.c.id)
        .limit(limit)
    )
    return [
        OutgoingMail(
            id=row.id,
            user_id=row.user_id,
            created_at_ms=row.created_at_ms,
            attempts=row.attempts,
            mail=Mail(recipient=row.recipient, subject=row.subject, body=row.body or ""),
        )
        for row in rows
    ]


async def claim_mail(conn: AsyncConnection, mail_id: str, now: int, retry_at_ms: int) -> bool:
    """Lease one mail until `retry_at_ms`: another instance skips it meanwhile, and if
    this one dies mid-delivery, the mail becomes due again then."""
    m = mail_outbox
    result = await conn.execute(
        update(m)
        .where(m.c.id == mail_id, m.c.sent_at_ms.is_(None), m.c.next_attempt_at_ms <= now)
        .values(next_attempt_at_ms=retry_at_ms, attempts=m.c.attempts + 1)
    )
    return result.rowcount == 1


async def mark_mail_sent(conn: AsyncConnection, mail_id: str, now: int) -> None:
    await conn.execute(
        update(mail_outbox).where(mail_outbox.c.id == mail_id).values(sent_at_ms=now, body=None)
    )


async def login_failure_times(conn: AsyncConnection, key_hash: str, since: int) -> list[int]:
    f = login_failures
    rows = await conn.execute(
        select(f.c.failed_at_ms).where(f.c.key_hash == key_hash, f.c.failed_at_ms > since)
    )
    return list(rows.scalars())


async def lock_throttle_keys(conn: AsyncConnection, key_hashes: Sequence[str]) -> None:
    """Serialize attempts on the same keys until the transaction ends, so that two
    concurrent attempts cannot both see room under the limit. SQLite needs nothing: its
    write transactions (BEGIN IMMEDIATE) already run one at a time."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(key_hashes):
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


async def record_login_failure(
    conn: AsyncConnection, key_hashes: Sequence[str], now: int, forget_before: int
) -> list[int]:
    """Count one failure under every key (an attempt is counted before its password is
    checked, and uncounted if it succeeds), and forget those keys' failures that have
    left the window (the table stays small). Returns the new rows' ids."""
    f = login_failures
    await conn.execute(
        delete(f).where(f.c.key_hash.in_(key_hashes), f.c.failed_at_ms <= forget_before)
    )
    ids = []
    for key in key_hashes:
        inserted = await conn.execute(
            f.insert().values(key_hash=key, failed_at_ms=now).returning(f.c.id)
        )
        ids.append(int(inserted.scalar_one()))
    return ids


async def forget_login_failures(conn: AsyncConnection, ids: Sequence[int]) -> None:
    await conn.execute(delete(login_failures).where(login_failures.c.id.in_(ids)))


async def count_recent_email_tokens(
    conn: AsyncConnection, user_id: str, purpose: TokenPurpose, since: int
) -> int:
    t = email_tokens
    counted = await conn.scalar(
        select(func.count())
        .select_from(t)
        .where(t.c.user_id == user_id, t.c.purpose == purpose.value, t.c.created_at_ms > since)
    )
    return int(counted or 0)


async def clear_login_failures(conn: AsyncConnection, key_hash: str) -> None:
    await conn.execute(delete(login_failures).where(login_failures.c.key_hash == key_hash))
