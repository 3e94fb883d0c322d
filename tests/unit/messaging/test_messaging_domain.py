"""messaging-service rules, without I/O."""

from __future__ import annotations

import pytest

from messenger.messaging import domain
from messenger.messaging.domain import ConversationView, Message, PageRequest
from messenger.platform.errors import ErrorCode, MessengerError

A, B, C = "a" * 32, "b" * 32, "c" * 32


def code_of(error: pytest.ExceptionInfo[MessengerError]) -> ErrorCode:
    return error.value.code


def message(seq: int, text: str = "hi") -> Message:
    return Message(f"{seq:032d}", "x" * 32, seq, A, text, seq, f"c{seq}")


def test_a_direct_conversation_belongs_to_its_pair() -> None:
    conversation = domain.new_direct_conversation("x" * 32, B, A, 7)
    assert conversation.members == [A, B]
    assert (conversation.last_seq, conversation.last_message_at_ms) == (0, None)
    assert conversation.other(A) == B
    assert conversation.other(B) == A
    assert domain.require_member(conversation, B) is conversation
    for found, user in ((conversation, C), (None, A)):
        with pytest.raises(MessengerError) as exc:
            domain.require_member(found, user)
        assert code_of(exc) is ErrorCode.NOT_FOUND


def test_self_and_non_friends() -> None:
    with pytest.raises(MessengerError) as exc:
        domain.require_other_user(A, A)
    assert code_of(exc) is ErrorCode.VALIDATION_FAILED
    domain.require_friends(True)
    with pytest.raises(MessengerError) as exc:
        domain.require_friends(False)
    assert code_of(exc) is ErrorCode.NOT_FRIENDS


@pytest.mark.parametrize(
    "text",
    ["x", " x ", "\U0001f600" * 4096, "e\u0301", "\u05e9\u05dc\u05d5\u05dd\n", "a\u200b"],
)
def test_valid_texts(text: str) -> None:
    domain.validate_text(text)


@pytest.mark.parametrize(
    "text", ["", " ", "\n\t\r\u3000\u2028", "x" * 4097, "a\x00b", "lone \ud800"]
)
def test_invalid_texts(text: str) -> None:
    with pytest.raises(MessengerError) as exc:
        domain.validate_text(text)
    assert code_of(exc) is ErrorCode.VALIDATION_FAILED


def test_client_message_ids() -> None:
    for good in ("a", "A-z_0-9", "x" * 64):
        domain.validate_client_message_id(good)
    for bad in ("", "x" * 65, "a b", "a.b", "\u00e9", "a\n"):
        with pytest.raises(MessengerError) as exc:
            domain.validate_client_message_id(bad)
        assert code_of(exc) is ErrorCode.VALIDATION_FAILED


def test_a_replay_returns_the_original_or_conflicts() -> None:
    original = message(3, "hello")
    assert domain.replayed(original, "hello") is original
    with pytest.raises(MessengerError) as exc:
        domain.replayed(original, "hello ")
    assert code_of(exc) is ErrorCode.CONFLICT


def test_page_requests() -> None:
    assert domain.page_request(None, None, None) == PageRequest(None, None, 50)
    assert domain.page_request(None, None, 500).limit == 100
    assert domain.page_request(3, None, 1).ascending
    assert domain.page_request(3, 9, 10).ascending
    assert not domain.page_request(None, 9, 10).ascending
    for after, before, limit in ((None, None, 0), (None, None, -5), (-1, None, 5), (None, -1, 5)):
        with pytest.raises(MessengerError) as exc:
            domain.page_request(after, before, limit)
        assert code_of(exc) is ErrorCode.VALIDATION_FAILED


def test_pages_come_out_ascending_with_has_more() -> None:
    newest = PageRequest(None, None, 2)
    assert domain.page(newest, [message(9), message(8), message(7)]) == (
        [message(8), message(9)],
        True,
    )
    assert domain.page(newest, [message(2), message(1)]) == ([message(1), message(2)], False)
    oldest = PageRequest(0, None, 2)
    assert domain.page(oldest, [message(1), message(2), message(3)]) == (
        [message(1), message(2)],
        True,
    )
    assert domain.page(oldest, []) == ([], False)


def test_read_positions_never_move_back_and_clamp() -> None:
    assert domain.seen_target(5, last_seq=10, current=2) == 5
    assert domain.seen_target(50, last_seq=10, current=2) == 10
    assert domain.seen_target(1, last_seq=10, current=2) is None
    assert domain.seen_target(2, last_seq=10, current=2) is None
    assert domain.seen_target(0, last_seq=0, current=0) is None
    with pytest.raises(MessengerError) as exc:
        domain.seen_target(-1, last_seq=10, current=2)
    assert code_of(exc) is ErrorCode.VALIDATION_FAILED


def test_conversations_sort_by_newest_message_then_newest_conversation() -> None:
    def view(name: str, created: int, last: int | None) -> ConversationView:
        conversation = domain.Conversation(name * 32, "direct", A, B, 0, created, last)
        return ConversationView(conversation, None, 0, 0, True, {A: 0, B: 0})

    views = [view("a", 1, None), view("b", 2, 50), view("c", 3, None), view("d", 0, 70)]
    ordered = [v.conversation.id[0] for v in domain.newest_first(views)]
    assert ordered == ["d", "b", "c", "a"]


def test_former_friends_see_only_their_own_read_position() -> None:
    positions = {"ada": 3, "bob": 5}
    assert domain.shown_read_positions(positions, "ada", can_send=True) == positions
    assert domain.shown_read_positions(positions, "ada", can_send=False) == {"ada": 3}
    assert domain.shown_read_positions({}, "ada", can_send=False) == {"ada": 0}
