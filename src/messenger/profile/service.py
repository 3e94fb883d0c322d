"""Profile use-cases: each opens its transaction, applies the domain, stages its events."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.platform.clock import now_ms
from messenger.platform.db import read_transaction
from messenger.platform.errors import ErrorCode, MessengerError, not_found
from messenger.platform.logging import log
from messenger.platform.uow import UnitOfWork, UnitOfWorkFactory
from messenger.profile import domain, events, store


async def create_profile(
    uow: UnitOfWork, user_id: str, username: str, display_name: str | None
) -> None:
    """The base profile of a new account; a second `user.created` for it changes nothing."""
    if await store.get_profile(uow.conn, user_id) is not None:
        return
    await store.insert_profile(
        uow.conn, domain.new_profile(user_id, username, display_name, now_ms())
    )


async def record_email_verified(uow: UnitOfWork, user_id: str) -> None:
    profile = await store.get_profile(uow.conn, user_id, for_update=True)
    if profile is None:
        log.warning("email verified for a user without a profile", user_id=user_id)
        return
    updated = domain.mark_email_verified(profile, now_ms())
    if updated is not None:
        await _save(uow, updated, profile.version)


async def update_profile(
    uow_factory: UnitOfWorkFactory,
    user_id: str,
    raw_changes: dict[str, Any],
    if_match: str | None,
) -> domain.Profile:
    """Apply a PATCH; with `If-Match`, only to the version the client has seen.

    The check and the write are one atomic `UPDATE ... WHERE version = expected`, so two
    clients holding the same ETag cannot both succeed.
    """
    async with uow_factory() as uow:
        profile = await store.get_profile(uow.conn, user_id, for_update=True)
        if profile is None:
            raise not_found("profile")
        changes = domain.validate_changes(raw_changes)
        if if_match is not None and not domain.match_hits(if_match, profile.etag):
            raise _stale()
        updated = domain.apply_changes(profile, changes, now_ms())
        if updated is None:
            return profile
        await _save(uow, updated, profile.version)
        return updated


async def _save(uow: UnitOfWork, profile: domain.Profile, expected_version: int) -> None:
    if not await store.save_if_version(uow.conn, profile, expected_version):
        raise _stale()
    uow.emit("profile.updated", events.profile_updated(profile))


def _stale() -> MessengerError:
    return MessengerError(
        ErrorCode.PRECONDITION_FAILED, "The profile has changed since you read it (If-Match)."
    )


async def get_profile(engine: AsyncEngine, user_id: str) -> domain.Profile:
    async with read_transaction(engine) as conn:
        profile = await store.get_profile(conn, user_id)
    if profile is None:
        raise not_found("profile")
    return profile


async def find_user(engine: AsyncEngine, username: str) -> domain.Profile:
    async with read_transaction(engine) as conn:
        profile = await store.find_by_username(conn, domain.normalize_username(username))
    if profile is None:
        raise not_found("user")
    return profile
