"""contact-service use-cases: each opens a unit of work, applies the domain, emits, commits."""

from __future__ import annotations

from dataclasses import dataclass

from messenger.contact import domain, events, store
from messenger.contact.domain import AddOutcome, FriendList
from messenger.platform.clock import now_ms
from messenger.platform.db import read_transaction, run_transaction
from messenger.platform.errors import not_found
from messenger.platform.ids import is_valid_id
from messenger.platform.uow import UnitOfWorkFactory

# A unique-key clash means another transaction wrote the pair first; the retry sees it.
_ATTEMPTS = 3


@dataclass(frozen=True)
class AddResult:
    status: str
    created: bool


async def add_friend(uow_factory: UnitOfWorkFactory, user_id: str, other_id: str) -> AddResult:
    """Send a friend request, or accept the other side's pending one.

    Two requests crossing at the same moment both try to insert the pair's row; the
    loser's retry finds the winner's pending request and accepts it: one friendship.
    """
    domain.require_other_user(user_id, other_id)
    attempt = 1
    while True:
        try:
            return await _add_friend_once(uow_factory, user_id, other_id)
        except store.DuplicateKeyError:
            if attempt >= _ATTEMPTS:
                raise
            attempt += 1


async def _add_friend_once(
    uow_factory: UnitOfWorkFactory, user_id: str, other_id: str
) -> AddResult:
    async with uow_factory() as uow:
        if not is_valid_id(other_id) or not await store.user_exists(uow.conn, other_id):
            raise not_found("user")
        existing = await store.get_friendship(uow.conn, user_id, other_id, lock=True)
        outcome = domain.decide_add(user_id, existing)
        if outcome is AddOutcome.ALREADY_REQUESTED:
            return AddResult(domain.PENDING, created=False)
        if existing is None:
            request = domain.new_request(user_id, other_id, now_ms())
            await store.insert_friendship(uow.conn, request)
            uow.emit(events.FRIENDSHIP_CREATED, events.friendship_created(request))
            return AddResult(domain.PENDING, created=True)
        accepted = existing.accept(now_ms())
        await store.save_acceptance(uow.conn, accepted)
        uow.emit(events.FRIENDSHIP_ACCEPTED, events.friendship_accepted(accepted, user_id))
        return AddResult(domain.ACCEPTED, created=False)


async def accept_friend(uow_factory: UnitOfWorkFactory, user_id: str, other_id: str) -> str:
    """Accept the pending request that `other_id` sent; returns the new status."""
    async with uow_factory() as uow:
        existing = await store.get_friendship(uow.conn, user_id, other_id, lock=True)
        request = domain.require_incoming_request(user_id, other_id, existing)
        accepted = request.accept(now_ms())
        await store.save_acceptance(uow.conn, accepted)
        uow.emit(events.FRIENDSHIP_ACCEPTED, events.friendship_accepted(accepted, user_id))
        return accepted.status


async def decline_friend(uow_factory: UnitOfWorkFactory, user_id: str, other_id: str) -> None:
    """Drop the pending request from `other_id`; nothing stops them asking again."""
    async with uow_factory() as uow:
        existing = await store.get_friendship(uow.conn, user_id, other_id, lock=True)
        request = domain.require_incoming_request(user_id, other_id, existing)
        await store.delete_friendship(uow.conn, request)
        uow.emit(
            events.FRIENDSHIP_REMOVED,
            events.friendship_removed(request, user_id, domain.REASON_DECLINED),
        )


async def remove_friend(uow_factory: UnitOfWorkFactory, user_id: str, other_id: str) -> None:
    """End a friendship, or cancel a pending request in either direction."""
    async with uow_factory() as uow:
        existing = await store.get_friendship(uow.conn, user_id, other_id, lock=True)
        record, reason = domain.require_removable(existing)
        await store.delete_friendship(uow.conn, record)
        uow.emit(events.FRIENDSHIP_REMOVED, events.friendship_removed(record, user_id, reason))


async def get_friends(uow_factory: UnitOfWorkFactory, user_id: str) -> FriendList:
    async with read_transaction(uow_factory.engine) as conn:
        records = await store.friendships_of(conn, user_id)
    return domain.friend_list(user_id, records)


async def is_friend(uow_factory: UnitOfWorkFactory, user_id: str, other_id: str) -> bool:
    return (await friends_among(uow_factory, [(user_id, other_id)]))[0]


async def friends_among(uow_factory: UnitOfWorkFactory, pairs: list[tuple[str, str]]) -> list[bool]:
    """For each (user, other) pair, in order: are they friends now? One query for all."""
    domain.require_pair_count(len(pairs))
    wanted = {domain.ordered_pair(a, b) for a, b in pairs if a != b}
    friends = await run_transaction(
        uow_factory.engine, lambda conn: store.accepted_among(conn, wanted), write=False
    )
    return [a != b and domain.ordered_pair(a, b) in friends for a, b in pairs]
