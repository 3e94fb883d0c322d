"""messaging-service over real gRPC, a real database, a real contact-service and JetStream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.ids import new_id
from tests.integration.messaging.messaging_harness import Services


async def fails_with(code: ErrorCode, call: Awaitable[Any]) -> None:
    with pytest.raises(MessengerError) as exc:
        await call
    assert exc.value.code is code, exc.value


async def test_open_direct_conversation(services: Services) -> None:
    a, b, c = await services.users(3)
    await fails_with(ErrorCode.NOT_FRIENDS, services.open(a, b))
    await fails_with(ErrorCode.VALIDATION_FAILED, services.open(a, a))
    await fails_with(ErrorCode.NOT_FRIENDS, services.open(a, new_id()))
    await services.befriend(a, b)
    opened = await asyncio.gather(*(services.open(x, y) for x, y in [(a, b), (b, a)] * 4))
    ids = {o.conversation.conversation_id for o in opened}
    assert len(ids) == 1
    assert [o.created for o in opened].count(True) <= 1
    conversation = opened[0].conversation
    assert conversation.type == "direct"
    assert list(conversation.members) == sorted([a, b])
    await fails_with(ErrorCode.NOT_FOUND, services.conversation(c, ids.pop()))


async def test_accepted_friendship_opens_the_conversation(services: Services) -> None:
    """The friendship.accepted consumer puts the conversation in both lists by itself."""
    a, b = await services.users(2)
    await services.befriend(a, b)
    deadline = time.monotonic() + 10
    while not (listed := await services.conversations(a)):
        assert time.monotonic() < deadline, "the conversation never appeared"
        await asyncio.sleep(0.05)
    (first,) = listed
    assert list(first.members) == sorted([a, b])
    assert first.can_send
    assert not first.HasField("last_message")
    assert (first.unread_count, first.last_seen_seq) == (0, 0)
    opened = await services.open(b, a)
    assert opened.conversation.conversation_id == first.conversation_id
    assert not opened.created
    assert opened.conversation.can_send


async def test_concurrent_sends_get_distinct_gap_free_seqs(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    senders = [a, b] * 32
    sent = await asyncio.gather(
        *(
            services.send(user, conversation, f"m{i} from {user[:4]}")
            for i, user in enumerate(senders)
        )
    )
    assert sorted(s.message.seq for s in sent) == list(range(1, 65))
    assert all(s.created for s in sent)
    seqs, has_more = await services.messages(a, conversation, after=0, limit=100)
    assert (seqs, has_more) == (list(range(1, 65)), False)

    by_seq = {s.message.seq: s.message for s in sent}
    for me in (a, b):
        own_last = max(seq for seq, m in by_seq.items() if m.sender_id == me)
        unread = sum(1 for seq, m in by_seq.items() if m.sender_id != me and seq > own_last)
        view = await services.conversation(me, conversation)
        assert (view.last_seen_seq, view.unread_count) == (own_last, unread)
        assert view.last_message.seq == 64


async def test_one_client_message_id_stores_one_message(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    sent = await asyncio.gather(
        *(services.send(a, conversation, "once", "dup-1") for _ in range(20))
    )
    assert len({s.message.message_id for s in sent}) == 1
    assert [s.created for s in sent].count(True) == 1
    assert {s.message.seq for s in sent} == {1}
    assert await services.messages(b, conversation) == ([1], False)

    replay = await services.send(a, conversation, "once", "dup-1")
    assert replay.message == sent[0].message
    assert not replay.created
    await fails_with(ErrorCode.CONFLICT, services.send(a, conversation, "other text", "dup-1"))
    # The id is scoped to its sender: the other member may use it too.
    theirs = await services.send(b, conversation, "other text", "dup-1")
    assert theirs.created
    assert theirs.message.seq == 2


async def test_paging(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    for i in range(7):
        await services.send(a if i % 2 else b, conversation, f"message {i + 1}")
    page = services.messages
    assert await page(a, conversation) == ([1, 2, 3, 4, 5, 6, 7], False)
    assert await page(a, conversation, limit=3) == ([5, 6, 7], True)
    assert await page(a, conversation, limit=7) == ([1, 2, 3, 4, 5, 6, 7], False)
    assert await page(a, conversation, before=5, limit=2) == ([3, 4], True)
    assert await page(a, conversation, before=3, limit=5) == ([1, 2], False)
    assert await page(a, conversation, before=1) == ([], False)
    assert await page(a, conversation, after=2, limit=3) == ([3, 4, 5], True)
    assert await page(a, conversation, after=4, limit=3) == ([5, 6, 7], False)
    assert await page(a, conversation, after=7) == ([], False)
    assert await page(a, conversation, after=0, limit=1) == ([1], True)
    assert await page(a, conversation, after=1, before=7, limit=3) == ([2, 3, 4], True)
    assert await page(a, conversation, after=1, before=5, limit=3) == ([2, 3, 4], False)
    assert await page(a, conversation, after=5, before=5) == ([], False)
    assert await page(a, conversation, after=6, before=2) == ([], False)
    await fails_with(ErrorCode.VALIDATION_FAILED, page(a, conversation, limit=-1))
    await fails_with(ErrorCode.VALIDATION_FAILED, page(a, conversation, after=-1))
    await fails_with(ErrorCode.VALIDATION_FAILED, page(a, conversation, before=-3))


async def test_mark_seen_is_monotonic_and_clamped(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    for text in ("one", "two", "three"):
        await services.send(b, conversation, text)
    seen = await services.mark_seen(a, conversation, 2)
    assert (seen.conversation_id, seen.last_seen_seq, seen.unread_count) == (conversation, 2, 1)
    lower = await services.mark_seen(a, conversation, 1)
    assert (lower.last_seen_seq, lower.unread_count) == (2, 1)
    clamped = await services.mark_seen(a, conversation, 99)
    assert (clamped.last_seen_seq, clamped.unread_count) == (3, 0)
    await fails_with(ErrorCode.VALIDATION_FAILED, services.mark_seen(a, conversation, -1))

    # The sender's own position moved with each message they sent; now a replies.
    await services.send(a, conversation, "four")
    listed_a, listed_b = await services.conversations(a), await services.conversations(b)
    assert (listed_a[0].last_seen_seq, listed_a[0].unread_count) == (4, 0)
    assert (listed_b[0].last_seen_seq, listed_b[0].unread_count) == (3, 1)
    assert listed_b[0].last_message.text == "four"

    events = [e for e, _ in await services.events("messenger.message.seen", 2)]
    assert [e.data["seq"] for e in events] == [2, 3]
    assert events[0].data == {
        "conversation_id": conversation,
        "user_id": a,
        "seq": 2,
        "members": sorted([a, b]),
    }
    more = await services.mark_seen(a, conversation, 4)  # no move: no event
    assert more.last_seen_seq == 4
    with pytest.raises(TimeoutError):
        await services.events("messenger.message.seen", 3, timeout=1)


async def test_every_members_read_position_is_listed(services: Services) -> None:
    """`read_positions` holds both members' positions, for either of them, in the list,
    GetConversation and OpenDirectConversation alike; the caller's own is last_seen_seq."""
    a, b, c = await services.users(3)
    conversation = await services.chat(a, b)
    other = await services.chat(c, a)  # a's second conversation: the maps must not mix

    async def positions(user: str) -> dict[str, int]:
        listed = {v.conversation_id: v for v in await services.conversations(user)}
        view = listed[conversation]
        single = await services.conversation(user, conversation)
        opened = (await services.open(user, b if user == a else a)).conversation
        for each in (single, opened):
            assert dict(each.read_positions) == dict(view.read_positions)
            assert each.last_seen_seq == view.last_seen_seq
        assert view.last_seen_seq == view.read_positions[user]
        return dict(view.read_positions)

    async def both() -> tuple[dict[str, int], dict[str, int]]:
        return await positions(a), await positions(b)

    assert await both() == ({a: 0, b: 0}, {a: 0, b: 0})
    for text in ("one", "two", "three"):
        await services.send(b, conversation, text)
    # b's sends moved b's position to each of them; a has read nothing yet.
    assert await both() == ({a: 0, b: 3}, {a: 0, b: 3})
    await services.mark_seen(a, conversation, 2)
    assert await both() == ({a: 2, b: 3}, {a: 2, b: 3})
    await services.mark_seen(a, conversation, 1)  # never moves back
    assert await both() == ({a: 2, b: 3}, {a: 2, b: 3})
    await services.send(a, conversation, "four")  # a's send moves a to it
    assert await both() == ({a: 4, b: 3}, {a: 4, b: 3})
    await services.mark_seen(b, conversation, 2)  # below b's own position: no move
    assert await both() == ({a: 4, b: 3}, {a: 4, b: 3})
    await services.mark_seen(b, conversation, 99)  # clamped to the newest message
    assert await both() == ({a: 4, b: 4}, {a: 4, b: 4})
    (b_view,) = await services.conversations(b)
    assert (b_view.last_seen_seq, b_view.unread_count) == (4, 0)

    await services.send(c, other, "hi a")
    listed = {v.conversation_id: dict(v.read_positions) for v in await services.conversations(a)}
    assert listed == {conversation: {a: 4, b: 4}, other: {a: 0, c: 1}}
    assert [dict(v.read_positions) for v in await services.conversations(c)] == [{a: 0, c: 1}]

    # Former friends each see only their own position, as no more `message.seen` reach them.
    await services.unfriend(a, b)
    await services.mark_seen(b, conversation, 4)
    for user in (a, b):
        views = {v.conversation_id: v for v in await services.conversations(user)}
        single = await services.conversation(user, conversation)
        for view in (views[conversation], single):
            assert not view.can_send
            assert dict(view.read_positions) == {user: 4}
    await services.befriend(a, b)
    assert await both() == ({a: 4, b: 4}, {a: 4, b: 4})


async def test_unfriend_closes_sending_but_keeps_history(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    await services.send(a, conversation, "hello")
    await services.unfriend(b, a)

    await fails_with(ErrorCode.NOT_FRIENDS, services.send(a, conversation, "still there?"))
    await fails_with(ErrorCode.NOT_FRIENDS, services.open(a, b))
    for user in (a, b):
        assert await services.messages(user, conversation) == ([1], False)
        (listed,) = await services.conversations(user)
        assert listed.conversation_id == conversation
        assert not listed.can_send
        assert not (await services.conversation(user, conversation)).can_send

    await services.befriend(b, a)
    reopened = await services.open(b, a)
    assert reopened.conversation.conversation_id == conversation
    assert not reopened.created
    assert (await services.send(a, conversation, "back again")).message.seq == 2
    (listed,) = await services.conversations(b)
    assert listed.can_send


async def test_only_members_see_a_conversation(services: Services) -> None:
    a, b, c = await services.users(3)
    conversation = await services.chat(a, b)
    await services.send(a, conversation, "private")
    for target in (conversation, new_id(), "../../etc"):
        # Not found ranks above invalid input.
        await fails_with(ErrorCode.NOT_FOUND, services.send(c, target, "", "bad id!"))
        await fails_with(ErrorCode.NOT_FOUND, services.messages(c, target, limit=-1))
        await fails_with(ErrorCode.NOT_FOUND, services.mark_seen(c, target, -1))
        await fails_with(ErrorCode.NOT_FOUND, services.conversation(c, target))
    assert await services.conversations(c) == []


async def test_text_and_client_message_id_rules(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    for text in ("", " \n\t\u3000", "x" * 4097, "nul\x00byte"):
        await fails_with(ErrorCode.VALIDATION_FAILED, services.send(a, conversation, text))
    for client_id in ("", "a" * 65, "space here", "é", "a.b"):
        await fails_with(
            ErrorCode.VALIDATION_FAILED, services.send(a, conversation, "hi", client_id)
        )
    # A replay check never runs before validation; invalid input stores nothing.
    assert await services.messages(a, conversation) == ([], False)

    longest = await services.send(a, conversation, "\U0001f600" * 4096, "A-z_09" + "x" * 58)
    assert longest.message.text == "\U0001f600" * 4096

    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"
    exotic = f"  e\u0301 {family} \u0645\u0631\u062d\u0628\u0627\r\n\u202e\ufeff "
    sent = await services.send(a, conversation, exotic, "exotic")
    assert sent.message.text == exotic
    request_page = await services.messages(b, conversation, after=1)
    assert request_page == ([2], False)
    (listed,) = await services.conversations(b)
    assert listed.last_message.text.encode() == exotic.encode()

    events = [e for e, _ in await services.events("messenger.message.sent", 2)]
    assert events[1].data["message"]["text"] == exotic


async def test_message_sent_event(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    sent = (await services.send(a, conversation, "hi there", "c-1")).message
    ((envelope, msg_id),) = await services.events("messenger.message.sent", 1)
    assert envelope.type == "message.sent"
    assert envelope.producer == "messaging"
    assert msg_id == envelope.id
    assert envelope.data == {
        "conversation_id": conversation,
        "members": sorted([a, b]),
        "message": {
            "message_id": sent.message_id,
            "conversation_id": conversation,
            "seq": 1,
            "sender_id": a,
            "text": "hi there",
            "sent_at": envelope.data["message"]["sent_at"],
            "client_message_id": "c-1",
        },
    }
    sent_at = envelope.data["message"]["sent_at"]
    assert len(sent_at) == 24
    assert sent_at.endswith("Z")
    # A replay publishes nothing more.
    await services.send(a, conversation, "hi there", "c-1")
    with pytest.raises(TimeoutError):
        await services.events("messenger.message.sent", 2, timeout=1)


async def test_each_concurrent_send_gets_its_own_outcome(services: Services) -> None:
    """Sends that arrive together are written together (group commit), but each still
    gets what it would get alone: stored, replayed, CONFLICT or NOT_FRIENDS."""
    a, b, c = await services.users(3)
    with_b = await services.chat(a, b)
    with_c = await services.chat(a, c)
    await services.send(a, with_b, "earlier", "kept")
    await services.unfriend(a, c)
    calls = [
        services.send(a, with_b, "fresh 1"),
        services.send(a, with_b, "earlier", "kept"),
        services.send(a, with_b, "changed", "kept"),
        services.send(a, with_c, "to a former friend"),
        services.send(c, with_c, "back to a", "same-key"),
        services.send(b, with_b, "twice", "same-key"),
        services.send(b, with_b, "twice", "same-key"),
        services.send(b, with_b, "twice, but other text", "same-key"),
        services.send(b, with_b, "fresh 2"),
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    codes = [o.code if isinstance(o, MessengerError) else None for o in outcomes]
    assert codes == [
        None,
        None,
        ErrorCode.CONFLICT,
        ErrorCode.NOT_FRIENDS,
        ErrorCode.NOT_FRIENDS,
        None,
        None,
        ErrorCode.CONFLICT,
        None,
    ], outcomes
    fresh_1, replay, _, _, _, first, again, _, fresh_2 = outcomes
    assert not isinstance(replay, BaseException)
    assert (replay.message.seq, replay.created) == (1, False)
    assert not isinstance(first, BaseException)
    assert not isinstance(again, BaseException)
    assert first.message == again.message
    assert [first.created, again.created].count(True) == 1
    stored = [o for o in (fresh_1, first, fresh_2) if not isinstance(o, BaseException)]
    assert sorted(s.message.seq for s in stored) == [2, 3, 4]
    assert await services.messages(a, with_b) == ([1, 2, 3, 4], False)
    assert await services.messages(a, with_c) == ([], False)


async def test_one_call_of_many_sends_gives_each_its_own_outcome(services: Services) -> None:
    """SendMessages (the gateway's coalesced POSTs): every send gets, in order, what
    SendMessage would have answered it, and its event carries its own request id."""
    a, b, c = await services.users(3)
    with_b = await services.chat(a, b)
    with_c = await services.chat(a, c)
    await services.send(a, with_b, "earlier", "kept")
    await services.unfriend(a, c)
    outcomes = await services.send_many(
        [
            (a, with_b, "fresh", "k1"),
            (c, with_b, "not a member", "k2"),
            (a, with_b, "", "k3"),
            (a, with_b, "earlier", "kept"),
            (a, with_b, "changed", "kept"),
            (a, with_c, "to a former friend", "k4"),
            (b, with_b, "twice", "k5"),
            (b, with_b, "twice", "k5"),
            (a, new_id(), "nowhere", "k6"),
        ],
        request_ids=[f"req-{i}" for i in range(9)],
    )
    failures = [o.failure.code if o.HasField("failure") else None for o in outcomes]
    assert failures == [
        None,
        "NOT_FOUND",
        "VALIDATION_FAILED",
        None,
        "CONFLICT",
        "NOT_FRIENDS",
        None,
        None,
        "NOT_FOUND",
    ], outcomes
    assert all(o.failure.message for o in outcomes if o.HasField("failure"))
    fresh, replay, first, again = (outcomes[i].sent for i in (0, 3, 6, 7))
    assert (fresh.created, replay.created, replay.message.seq) == (True, False, 1)
    assert first.message == again.message
    assert [first.created, again.created].count(True) == 1
    assert sorted([fresh.message.seq, first.message.seq]) == [2, 3]
    assert await services.messages(a, with_b) == ([1, 2, 3], False)
    events = await services.events("messenger.message.sent", 3)
    by_text = {e.data["message"]["text"]: e.request_id for e, _ in events}
    assert by_text == {"earlier": None, "fresh": "req-0", "twice": "req-6"}


async def test_one_call_holds_at_most_256_sends(services: Services) -> None:
    a, b = await services.users(2)
    conversation = await services.chat(a, b)
    sends = [(a, conversation, f"m{i}", f"k{i}") for i in range(257)]
    await fails_with(ErrorCode.INVALID_REQUEST, services.send_many(sends))
    assert await services.messages(a, conversation) == ([], False)
    outcomes = await services.send_many(sends[:256])
    assert [o.sent.message.seq for o in outcomes] == list(range(1, 257))
