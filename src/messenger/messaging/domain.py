"""Messaging rules: who may read and write a conversation, what a message may hold,
how pages and read positions move. No I/O here; service.py applies these rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from messenger.platform.errors import ErrorCode, MessengerError, invalid

DIRECT = "direct"
MAX_TEXT_CODE_POINTS = 4096
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_CLIENT_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def ordered_members(a: str, b: str) -> tuple[str, str]:
    """A direct conversation's key: the same whichever member opens it."""
    return (a, b) if a < b else (b, a)


@dataclass(frozen=True)
class Members:
    """Who is in a conversation. It never changes once the conversation exists, so it
    can be cached exactly (see directory.py)."""

    conversation_id: str
    member_low: str
    member_high: str

    @property
    def members(self) -> list[str]:
        return [self.member_low, self.member_high]

    def has_member(self, user_id: str) -> bool:
        return user_id in (self.member_low, self.member_high)

    def other(self, user_id: str) -> str:
        return self.member_high if user_id == self.member_low else self.member_low


@dataclass(frozen=True)
class Conversation:
    id: str
    type: str
    member_low: str
    member_high: str
    last_seq: int
    created_at_ms: int
    last_message_at_ms: int | None

    @property
    def membership(self) -> Members:
        return Members(self.id, self.member_low, self.member_high)

    @property
    def members(self) -> list[str]:
        return self.membership.members

    def has_member(self, user_id: str) -> bool:
        return self.membership.has_member(user_id)

    def other(self, user_id: str) -> str:
        return self.membership.other(user_id)


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    seq: int
    sender_id: str
    text: str
    sent_at_ms: int
    client_message_id: str


def new_direct_conversation(conversation_id: str, a: str, b: str, at_ms: int) -> Conversation:
    low, high = ordered_members(a, b)
    return Conversation(conversation_id, DIRECT, low, high, 0, at_ms, None)


@dataclass(frozen=True)
class ConversationView:
    """A conversation as one member sees it in their list. `read_positions` holds the
    members' `last_seen_seq` (user_id -> seq), the viewer's own included
    (`shown_read_positions`)."""

    conversation: Conversation
    last_message: Message | None
    unread_count: int
    last_seen_seq: int
    can_send: bool
    read_positions: Mapping[str, int]


def shown_read_positions(
    positions: Mapping[str, int], viewer: str, can_send: bool
) -> dict[str, int]:
    """Every member's read position while they are friends; a former friend sees only
    their own, as they get no more `message.seen` frames (whether the other went on
    reading is no longer theirs to know)."""
    if can_send:
        return dict(positions)
    return {viewer: positions.get(viewer, 0)}


def newest_first(views: list[ConversationView]) -> list[ConversationView]:
    """Newest last message first; conversations without messages after them, newest
    conversation first."""

    def key(view: ConversationView) -> tuple[bool, int, int, str]:
        c = view.conversation
        has_messages = c.last_message_at_ms is not None
        return (has_messages, c.last_message_at_ms or 0, c.created_at_ms, c.id)

    return sorted(views, key=key, reverse=True)


class _HasMembers(Protocol):
    def has_member(self, user_id: str) -> bool: ...


_C = TypeVar("_C", bound=_HasMembers)


def require_member(conversation: _C | None, user_id: str) -> _C:
    """An unknown conversation and someone else's look the same: not found."""
    if conversation is None or not conversation.has_member(user_id):
        raise MessengerError(ErrorCode.NOT_FOUND, "No such conversation.")
    return conversation


def require_other_user(user_id: str, other_id: str) -> None:
    if user_id == other_id:
        raise invalid("You cannot open a conversation with yourself.", field="user_id")


def not_friends() -> MessengerError:
    return MessengerError(ErrorCode.NOT_FRIENDS, "You can only message users who are your friends.")


def require_friends(are_friends: bool) -> None:
    if not are_friends:
        raise not_friends()


def validate_text(text: str) -> None:
    """1 to 4096 code points, at least one non-whitespace; stored exactly as sent."""
    if not 1 <= len(text) <= MAX_TEXT_CODE_POINTS:
        raise invalid(f"text must be 1 to {MAX_TEXT_CODE_POINTS} characters long.", field="text")
    if text.isspace():
        raise invalid("text must contain a non-whitespace character.", field="text")
    if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
        raise invalid("text must not contain NUL or lone surrogates.", field="text")


def validate_client_message_id(client_message_id: str) -> None:
    if _CLIENT_MESSAGE_ID.fullmatch(client_message_id) is None:
        raise invalid(
            "client_message_id must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'.",
            field="client_message_id",
        )


def replayed(original: Message, text: str) -> Message:
    """A retried send returns the original; the same id with other text is a conflict."""
    if original.text != text:
        raise MessengerError(
            ErrorCode.CONFLICT,
            "This client_message_id was already used for a different text.",
        )
    return original


@dataclass(frozen=True)
class PageRequest:
    """Which messages GetMessages reads: with `after`, the oldest ones above it (below
    `before` too, if given); otherwise the newest ones (below `before`, if given)."""

    after: int | None
    before: int | None
    limit: int

    @property
    def ascending(self) -> bool:
        return self.after is not None


def page_request(after: int | None, before: int | None, limit: int | None) -> PageRequest:
    if limit is None:
        limit = DEFAULT_PAGE_SIZE
    if limit < 1:
        raise invalid("limit must be at least 1.", field="limit")
    for name, value in (("after", after), ("before", before)):
        if value is not None and value < 0:
            raise invalid(f"{name} must be a whole number >= 0.", field=name)
    return PageRequest(after, before, min(limit, MAX_PAGE_SIZE))


def page(request: PageRequest, fetched: list[Message]) -> tuple[list[Message], bool]:
    """`fetched` holds up to limit + 1 messages in reading order (ascending from `after`,
    descending otherwise); the extra one only says that more exist. Returns the page in
    ascending seq and has_more."""
    has_more = len(fetched) > request.limit
    messages = fetched[: request.limit]
    if not request.ascending:
        messages.reverse()
    return messages, has_more


def seen_target(requested: int, last_seq: int, current: int) -> int | None:
    """Where a MarkSeen moves the read position: never back, never past the newest
    message; None when it does not move."""
    if requested < 0:
        raise invalid("seq must be a whole number >= 0.", field="seq")
    target = min(requested, last_seq)
    return target if target > current else None
