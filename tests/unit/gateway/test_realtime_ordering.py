"""Each conversation's frames leave in `seq` order (gateway/realtime/ordering.py), and
the order travels in a frame's NATS subject (gateway/realtime/__init__.py)."""

from __future__ import annotations

import asyncio

import pytest

from messenger.gateway.realtime import frame_subject, order_of, user_subjects
from messenger.gateway.realtime import ordering as ordering_module
from messenger.gateway.realtime.frames import deliveries
from messenger.gateway.realtime.ordering import InOrder
from messenger.platform.events import Envelope

C, D = "c" * 32, "d" * 32


@pytest.fixture
def out() -> list[str]:
    return []


@pytest.fixture
def in_order(out: list[str]) -> InOrder:
    return InOrder(out.append)


def push(in_order: InOrder, conversation: str, *seqs: int) -> None:
    for seq in seqs:
        in_order.push(f"{conversation[0]}{seq}", (conversation, seq))


async def test_a_frame_after_a_gap_waits_for_the_missing_one(
    in_order: InOrder, out: list[str]
) -> None:
    push(in_order, C, 1, 3, 4)
    assert out == ["c1"]
    push(in_order, C, 2)
    assert out == ["c1", "c2", "c3", "c4"]
    push(in_order, C, 5)
    assert out[-1] == "c5"


async def test_conversations_wait_only_for_their_own_gaps(
    in_order: InOrder, out: list[str]
) -> None:
    push(in_order, C, 1, 3)
    push(in_order, D, 1, 2)
    assert out == ["c1", "d1", "d2"]


async def test_other_frames_wait_behind_held_messages(in_order: InOrder, out: list[str]) -> None:
    in_order.push("seen", None)
    push(in_order, C, 1, 3)
    in_order.push("friendship.removed", None)  # must not overtake message 3
    assert out == ["seen", "c1"]
    push(in_order, C, 2)
    assert out == ["seen", "c1", "c2", "c3", "friendship.removed"]


async def test_giving_up_releases_only_up_to_the_next_gap(
    in_order: InOrder, out: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ordering_module, "HOLD_SECONDS", 0.05)
    push(in_order, C, 1, 3, 5)  # 2 and 4 missing
    await asyncio.sleep(0.08)  # 2 is given up: 3 goes out, 5 waits anew for 4
    assert out == ["c1", "c3"]
    push(in_order, C, 4)
    assert out == ["c1", "c3", "c4", "c5"]


async def test_a_first_frame_given_up_on_does_not_release_past_a_gap(
    in_order: InOrder, out: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ordering_module, "FIRST_HOLD_SECONDS", 0.03)
    push(in_order, C, 3, 5)
    await asyncio.sleep(0.05)
    push(in_order, C, 4)
    assert out == ["c3", "c4", "c5"]


async def test_held_frames_go_out_in_order_when_the_gap_never_fills(
    in_order: InOrder, out: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ordering_module, "HOLD_SECONDS", 0.05)
    push(in_order, C, 1, 4, 3)
    assert out == ["c1"]
    await asyncio.sleep(0.1)
    assert out == ["c1", "c3", "c4"]
    # The lost one, should it come after all, is not withheld; what follows 4 flows.
    push(in_order, C, 2, 5)
    assert out == ["c1", "c3", "c4", "c2", "c5"]


async def test_a_conversations_first_frame_here_waits_briefly_for_earlier_ones(
    in_order: InOrder, out: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ordering_module, "FIRST_HOLD_SECONDS", 0.05)
    push(in_order, C, 8, 7)  # 7 was on its way from another instance
    push(in_order, D, 1, 2)  # a conversation's first message has nothing before it
    assert out == ["d1", "d2"]
    await asyncio.sleep(0.1)
    assert out == ["d1", "d2", "c7", "c8"]
    push(in_order, C, 9)
    assert out[-1] == "c9"


async def test_closing_drops_what_is_held(
    in_order: InOrder, out: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ordering_module, "HOLD_SECONDS", 0.05)
    push(in_order, C, 1, 3)
    in_order.close()
    await asyncio.sleep(0.1)
    assert out == ["c1"]


def test_the_order_travels_in_the_subject() -> None:
    user = "a" * 32
    subscribed = user_subjects(user)
    assert subscribed == f"rt.user.{user}.>"
    for order in ((C, 1), (C, 12345), None):
        subject = frame_subject(user, order)
        assert subject.startswith(subscribed[:-1])
        assert order_of(subject) == order
    assert order_of(f"rt.user.{user}.msg.{C}.x") is None


def test_a_message_frame_names_its_order() -> None:
    members = sorted(["a" * 32, "b" * 32])
    envelope = Envelope.new(
        "message.sent",
        {"conversation_id": C, "members": members, "message": {"seq": 3, "text": "hi"}},
        producer="test",
        request_id=None,
    )
    assert [d.order for d in deliveries(envelope)] == [(C, 3), (C, 3)]
    bad = Envelope.new(
        "message.sent",
        {"conversation_id": C, "members": members, "message": {"seq": "3"}},
        producer="test",
        request_id=None,
    )
    with pytest.raises(ValueError, match="seq"):
        deliveries(bad)
