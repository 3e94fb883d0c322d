"""The profile-service's tables and queries: the only module with SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from messenger.platform.outbox import define_inbox, define_outbox
from messenger.profile.domain import Profile

metadata = MetaData()
outbox = define_outbox(metadata)
inbox = define_inbox(metadata)

profiles = Table(
    "profiles",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("bio", Text, nullable=True),
    Column("avatar_url", Text, nullable=True),
    Column("email_verified", Boolean, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
)


def _profile(row: Any) -> Profile:
    return Profile(
        user_id=row.user_id,
        username=row.username,
        display_name=row.display_name,
        bio=row.bio,
        avatar_url=row.avatar_url,
        email_verified=bool(row.email_verified),
        updated_at_ms=row.updated_at_ms,
        version=row.version,
    )


def _values(profile: Profile) -> dict[str, Any]:
    return {
        "username": profile.username,
        "display_name": profile.display_name,
        "bio": profile.bio,
        "avatar_url": profile.avatar_url,
        "email_verified": profile.email_verified,
        "updated_at_ms": profile.updated_at_ms,
        "version": profile.version,
    }


async def get_profile(
    conn: AsyncConnection, user_id: str, *, for_update: bool = False
) -> Profile | None:
    query = select(profiles).where(profiles.c.user_id == user_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _profile(row)


async def find_by_username(conn: AsyncConnection, username: str) -> Profile | None:
    row = (await conn.execute(select(profiles).where(profiles.c.username == username))).first()
    return None if row is None else _profile(row)


async def insert_profile(conn: AsyncConnection, profile: Profile) -> None:
    await conn.execute(profiles.insert().values(user_id=profile.user_id, **_values(profile)))


async def save_if_version(conn: AsyncConnection, profile: Profile, expected_version: int) -> bool:
    """Write the new version only if the stored one is still `expected_version`."""
    result = await conn.execute(
        update(profiles)
        .where(profiles.c.user_id == profile.user_id, profiles.c.version == expected_version)
        .values(**_values(profile))
    )
    return result.rowcount == 1


async def ping(engine: AsyncEngine) -> None:
    """Raises unless the database answers."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
