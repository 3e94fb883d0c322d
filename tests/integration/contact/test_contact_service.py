"""contact-service over real gRPC, a real database and a real JetStream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from messenger.pb.contact.v1 import contact_pb2 as pb
from messenger.pb.contact.v1.contact_pb2_grpc import ContactServiceStub
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.grpc import rpc
from messenger.platform.ids import new_id

DEADLINE = 10.0


async def add(stub: ContactServiceStub, user: str, other: str) -> pb.AddFriendResponse:
    return await rpc(
        stub.AddFriend, pb.AddFriendRequest(user_id=user, other_user_id=other), deadline=DEADLINE
    )


async def call(method: Any, user: str, other: str) -> Any:
    return await rpc(method, pb.FriendPair(user_id=user, other_user_id=other), deadline=DEADLINE)


async def friends(stub: ContactServiceStub, user: str) -> pb.GetFriendsResponse:
    return await rpc(stub.GetFriends, pb.GetFriendsRequest(user_id=user), deadline=DEADLINE)


async def is_friend(stub: ContactServiceStub, user: str, other: str) -> bool:
    response = await call(stub.IsFriend, user, other)
    return bool(response.friends)


async def test_request_then_accept_and_the_events(
    contact: ContactServiceStub, make_users: Any, events: Any
) -> None:
    a, b = await make_users(2)
    first = await add(contact, a, b)
    assert (first.user_id, first.status, first.created) == (b, "pending", True)
    again = await add(contact, a, b)
    assert (again.status, again.created) == ("pending", False)

    mine, theirs = await friends(contact, a), await friends(contact, b)
    assert [r.user_id for r in mine.outgoing] == [b]
    assert not mine.incoming
    assert not mine.friends
    assert [r.user_id for r in theirs.incoming] == [a]
    assert theirs.incoming[0].requested_at_ms == mine.outgoing[0].requested_at_ms > 0
    assert not await is_friend(contact, a, b)

    accepted = await call(contact.AcceptFriend, b, a)
    assert (accepted.user_id, accepted.status) == (a, "accepted")
    assert await is_friend(contact, a, b)
    assert await is_friend(contact, b, a)
    listed = await friends(contact, a)
    assert [f.user_id for f in listed.friends] == [b]
    assert listed.friends[0].since_ms > 0
    assert not listed.outgoing
    assert not listed.incoming
    with pytest.raises(MessengerError) as exc:
        await add(contact, b, a)
    assert exc.value.code is ErrorCode.ALREADY_FRIENDS

    (created, created_id), (accept, accept_id) = await events("messenger.friendship.>", 2)
    pair = sorted([a, b])
    assert created.type == "friendship.created"
    assert accept.type == "friendship.accepted"
    assert created.data == {"requester_id": a, "addressee_id": b, "user_ids": pair}
    assert accept.data == {"user_ids": pair, "accepted_by": b}
    for envelope, msg_id in ((created, created_id), (accept, accept_id)):
        assert envelope.producer == "contact"
        assert envelope.version == 1
        assert msg_id == envelope.id
        assert envelope.occurred_at.endswith("Z")


async def test_mutual_request_is_an_acceptance(
    contact: ContactServiceStub, make_users: Any, events: Any
) -> None:
    a, b = await make_users(2)
    await add(contact, a, b)
    mutual = await add(contact, b, a)
    assert (mutual.user_id, mutual.status, mutual.created) == (a, "accepted", False)
    assert await is_friend(contact, a, b)
    _, (accepted, _) = await events("messenger.friendship.>", 2)
    assert accepted.type == "friendship.accepted"
    assert accepted.data["accepted_by"] == b


async def test_crossing_requests_end_as_one_friendship(
    contact: ContactServiceStub, make_users: Any
) -> None:
    users = await make_users(64)
    pairs = list(zip(users[::2], users[1::2], strict=True))
    results = await asyncio.gather(
        *(add(contact, x, y) for a, b in pairs for x, y in ((a, b), (b, a)))
    )
    for first, second in zip(results[::2], results[1::2], strict=True):
        assert sorted([first.status, second.status]) == ["accepted", "pending"]
        assert [first.created, second.created].count(True) == 1
    for a, b in pairs:
        assert await is_friend(contact, a, b)
        listed = await friends(contact, a)
        assert [f.user_id for f in listed.friends] == [b]
        assert not listed.incoming
        assert not listed.outgoing


async def test_decline_lets_the_requester_ask_again(
    contact: ContactServiceStub, make_users: Any, events: Any
) -> None:
    a, b = await make_users(2)
    await add(contact, a, b)
    with pytest.raises(MessengerError) as exc:
        await call(contact.DeclineFriend, a, b)  # one cannot decline one's own request
    assert exc.value.code is ErrorCode.NOT_FOUND
    await call(contact.DeclineFriend, b, a)
    assert not (await friends(contact, a)).outgoing
    with pytest.raises(MessengerError) as exc:
        await call(contact.DeclineFriend, b, a)
    assert exc.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(MessengerError) as exc:
        await call(contact.AcceptFriend, b, a)
    assert exc.value.code is ErrorCode.NOT_FOUND

    again = await add(contact, a, b)
    assert (again.status, again.created) == ("pending", True)
    _, (declined, _), (created, _) = await events("messenger.friendship.>", 3)
    assert declined.type == "friendship.removed"
    assert declined.data == {"user_ids": sorted([a, b]), "removed_by": b, "reason": "declined"}
    assert created.type == "friendship.created"


async def test_remove_ends_friendships_and_cancels_requests(
    contact: ContactServiceStub, make_users: Any, events: Any
) -> None:
    a, b, c = await make_users(3)
    with pytest.raises(MessengerError) as exc:
        await call(contact.RemoveFriend, a, b)
    assert exc.value.code is ErrorCode.NOT_FOUND

    await add(contact, a, b)
    await call(contact.RemoveFriend, a, b)  # the requester cancels
    await add(contact, a, c)
    await call(contact.RemoveFriend, c, a)  # the addressee removes the incoming request
    await add(contact, b, c)
    await add(contact, c, b)
    await call(contact.RemoveFriend, b, c)
    assert not await is_friend(contact, b, c)
    for user in (a, b, c):
        listed = await friends(contact, user)
        assert not listed.friends
        assert not listed.incoming
        assert not listed.outgoing

    removed = [e for e, _ in await events("messenger.friendship.>", 7)]
    reasons = [
        (e.data["removed_by"], e.data["reason"]) for e in removed if e.type.endswith("removed")
    ]
    assert reasons == [(a, "cancelled"), (c, "cancelled"), (b, "removed")]


async def test_bad_requests(contact: ContactServiceStub, make_users: Any) -> None:
    (a,) = await make_users(1)
    cases = [
        (add(contact, a, a), ErrorCode.VALIDATION_FAILED),
        (add(contact, a, new_id()), ErrorCode.NOT_FOUND),
        (add(contact, a, "not-an-id"), ErrorCode.NOT_FOUND),
        (call(contact.AcceptFriend, a, new_id()), ErrorCode.NOT_FOUND),
        (call(contact.AcceptFriend, a, a), ErrorCode.NOT_FOUND),
    ]
    for coroutine, code in cases:
        with pytest.raises(MessengerError) as exc:
            await coroutine
        assert exc.value.code is code
    assert not await is_friend(contact, a, a)


async def test_are_friends_answers_each_pair_in_order(
    contact: ContactServiceStub, make_users: Any
) -> None:
    a, b, c, d = await make_users(4)
    await add(contact, a, b)
    await call(contact.AcceptFriend, b, a)
    await add(contact, a, c)  # pending only: not friends yet
    asked = [(a, b), (b, a), (a, c), (c, d), (a, a), (a, "not-an-id"), (a, b)]
    response = await rpc(
        contact.AreFriends,
        pb.AreFriendsRequest(pairs=[pb.FriendPair(user_id=u, other_user_id=o) for u, o in asked]),
        deadline=DEADLINE,
    )
    assert list(response.friends) == [True, True, False, False, False, False, True]
    empty = await rpc(contact.AreFriends, pb.AreFriendsRequest(), deadline=DEADLINE)
    assert list(empty.friends) == []

    too_many = pb.AreFriendsRequest(pairs=[pb.FriendPair(user_id=a, other_user_id=b)] * 1001)
    with pytest.raises(MessengerError) as exc:
        await rpc(contact.AreFriends, too_many, deadline=DEADLINE)
    assert exc.value.code is ErrorCode.VALIDATION_FAILED
