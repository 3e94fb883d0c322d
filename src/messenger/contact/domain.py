"""Friendship rules: one record per unordered pair, which is either a pending request
or an accepted friendship. No I/O here; service.py applies these decisions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from messenger.platform.errors import ErrorCode, MessengerError, invalid

PENDING = "pending"
ACCEPTED = "accepted"

REASON_REMOVED = "removed"
REASON_CANCELLED = "cancelled"
REASON_DECLINED = "declined"
MAX_PAIRS_PER_QUESTION = 1000


def ordered_pair(a: str, b: str) -> tuple[str, str]:
    """The pair's key: the same whichever side acts, so the pair can only exist once."""
    return (a, b) if a < b else (b, a)


def require_pair_count(count: int) -> None:
    """AreFriends answers in one query; a bound keeps that query small."""
    if count > MAX_PAIRS_PER_QUESTION:
        raise invalid(f"Ask about at most {MAX_PAIRS_PER_QUESTION} pairs at once.", field="pairs")


@dataclass(frozen=True)
class Friendship:
    user_low: str
    user_high: str
    status: str
    requester_id: str
    requested_at_ms: int
    accepted_at_ms: int | None = None

    @property
    def user_ids(self) -> list[str]:
        return [self.user_low, self.user_high]

    @property
    def addressee_id(self) -> str:
        return self.other(self.requester_id)

    def other(self, user_id: str) -> str:
        return self.user_high if user_id == self.user_low else self.user_low

    def accept(self, at_ms: int) -> Friendship:
        return replace(self, status=ACCEPTED, accepted_at_ms=at_ms)


def new_request(requester_id: str, addressee_id: str, at_ms: int) -> Friendship:
    low, high = ordered_pair(requester_id, addressee_id)
    return Friendship(low, high, PENDING, requester_id, at_ms)


class AddOutcome(enum.Enum):
    REQUESTED = "requested"
    ALREADY_REQUESTED = "already_requested"
    ACCEPTED = "accepted"


def require_other_user(user_id: str, other_id: str) -> None:
    if user_id == other_id:
        raise invalid("You cannot send a friend request to yourself.", field="user_id")


def decide_add(user_id: str, existing: Friendship | None) -> AddOutcome:
    """AddFriend on the pair's current record: a request from the other side is accepted
    (a mutual request is an acceptance); a repeated request changes nothing."""
    if existing is None:
        return AddOutcome.REQUESTED
    if existing.status == ACCEPTED:
        raise MessengerError(ErrorCode.ALREADY_FRIENDS, "You are already friends.")
    if existing.requester_id == user_id:
        return AddOutcome.ALREADY_REQUESTED
    return AddOutcome.ACCEPTED


def require_incoming_request(
    user_id: str, other_id: str, existing: Friendship | None
) -> Friendship:
    """Accepting or declining needs a pending request sent BY `other_id` TO `user_id`."""
    if (
        existing is None
        or existing.status != PENDING
        or existing.requester_id != other_id
        or existing.addressee_id != user_id
    ):
        raise MessengerError(ErrorCode.NOT_FOUND, "No pending friend request from that user.")
    return existing


def require_removable(existing: Friendship | None) -> tuple[Friendship, str]:
    """RemoveFriend ends a friendship or cancels a pending request, whichever side sent
    it; returns the record and the reason the `friendship.removed` event carries."""
    if existing is None:
        raise MessengerError(ErrorCode.NOT_FOUND, "No friendship or request with that user.")
    return existing, REASON_REMOVED if existing.status == ACCEPTED else REASON_CANCELLED


@dataclass(frozen=True)
class FriendList:
    """GetFriends: friends with the moment they became friends, and pending requests."""

    friends: list[tuple[str, int]]
    incoming: list[tuple[str, int]]
    outgoing: list[tuple[str, int]]


def friend_list(user_id: str, records: list[Friendship]) -> FriendList:
    friends: list[tuple[str, int]] = []
    incoming: list[tuple[str, int]] = []
    outgoing: list[tuple[str, int]] = []
    for record in records:
        other = record.other(user_id)
        if record.status == ACCEPTED:
            friends.append((other, record.accepted_at_ms or record.requested_at_ms))
        elif record.requester_id == user_id:
            outgoing.append((other, record.requested_at_ms))
        else:
            incoming.append((other, record.requested_at_ms))
    for items in (friends, incoming, outgoing):
        items.sort(key=lambda item: (item[1], item[0]))
    return FriendList(friends, incoming, outgoing)
