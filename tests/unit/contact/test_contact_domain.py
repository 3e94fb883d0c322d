"""contact-service rules, without I/O."""

from __future__ import annotations

import pytest

from messenger.contact import domain
from messenger.contact.domain import AddOutcome, Friendship
from messenger.contact.events import friendship_created, friendship_removed
from messenger.platform.errors import ErrorCode, MessengerError

A, B, C = "a" * 32, "b" * 32, "c" * 32


def test_the_pair_key_ignores_who_acts() -> None:
    assert domain.ordered_pair(A, B) == domain.ordered_pair(B, A) == (A, B)
    request = domain.new_request(B, A, 5)
    assert (request.user_low, request.user_high, request.requester_id) == (A, B, B)
    assert request.addressee_id == A
    assert request.user_ids == [A, B]


def test_oneself_is_not_a_friend() -> None:
    with pytest.raises(MessengerError) as exc:
        domain.require_other_user(A, A)
    assert exc.value.code is ErrorCode.VALIDATION_FAILED


def test_add_decides_from_the_pairs_record() -> None:
    pending = domain.new_request(A, B, 1)
    assert domain.decide_add(A, None) is AddOutcome.REQUESTED
    assert domain.decide_add(A, pending) is AddOutcome.ALREADY_REQUESTED
    assert domain.decide_add(B, pending) is AddOutcome.ACCEPTED
    with pytest.raises(MessengerError) as exc:
        domain.decide_add(B, pending.accept(2))
    assert exc.value.code is ErrorCode.ALREADY_FRIENDS


def test_only_the_addressee_accepts_or_declines() -> None:
    pending = domain.new_request(A, B, 1)
    assert domain.require_incoming_request(B, A, pending) is pending
    for user, other, record in [
        (A, B, pending),
        (B, C, pending),
        (B, A, None),
        (B, A, pending.accept(2)),
    ]:
        with pytest.raises(MessengerError) as exc:
            domain.require_incoming_request(user, other, record)
        assert exc.value.code is ErrorCode.NOT_FOUND


def test_removal_reason() -> None:
    pending = domain.new_request(A, B, 1)
    assert domain.require_removable(pending) == (pending, "cancelled")
    assert domain.require_removable(pending.accept(2))[1] == "removed"
    with pytest.raises(MessengerError) as exc:
        domain.require_removable(None)
    assert exc.value.code is ErrorCode.NOT_FOUND


def test_friend_list_splits_friends_and_requests() -> None:
    records = [
        Friendship(A, C, "accepted", C, 1, 9),
        domain.new_request(B, A, 3),
        domain.new_request(A, "d" * 32, 2),
    ]
    listed = domain.friend_list(A, records)
    assert listed.friends == [(C, 9)]
    assert listed.incoming == [(B, 3)]
    assert listed.outgoing == [("d" * 32, 2)]


def test_event_payloads() -> None:
    request = domain.new_request(B, A, 1)
    assert friendship_created(request) == {
        "requester_id": B,
        "addressee_id": A,
        "user_ids": [A, B],
    }
    assert friendship_removed(request, A, "declined") == {
        "user_ids": [A, B],
        "removed_by": A,
        "reason": "declined",
    }
