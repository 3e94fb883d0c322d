"""From an event to the WebSocket frames of API.md and the users who get them (no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from messenger.gateway.realtime import Order
from messenger.platform.events import Envelope

READY = '{"type":"ready"}'
SESSION_REVOKED = '{"type":"session.revoked"}'
FRIENDSHIP_TYPES = ("friendship.created", "friendship.accepted", "friendship.removed")


@dataclass(frozen=True)
class Delivery:
    """One frame for one user; `if_friends_with` names a user who must still be a friend
    of `user_id` when the frame goes out (checked by the router, never from a cache)."""

    user_id: str
    frame: bytes
    if_friends_with: str | None = None
    order: Order | None = None
    """A message's (conversation_id, seq): its frame goes out in that order."""


def encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"event field {key!r} missing or not a string")
    return value


def _seq(data: dict[str, Any]) -> int:
    seq = data.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("event without a positive integer seq")
    return seq


def _pair(data: dict[str, Any], key: str) -> tuple[str, str]:
    value = data.get(key)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, str) and v for v in value)
        or value[0] == value[1]
    ):
        raise ValueError(f"event field {key!r} is not a pair of user ids")
    return value[0], value[1]


def deliveries(envelope: Envelope) -> list[Delivery]:
    """Who gets which frame for this event; raises ValueError for a malformed payload.

    `message.sent` goes to both members: messaging only stores a message after asking
    contact-service that the pair are friends at that moment. `message.seen` goes to the
    reader's own sockets, and to the other member only while they are still friends, so
    a removed friend hears nothing more of the conversation.
    """
    data = envelope.data
    kind = envelope.type
    if kind == "message.sent":
        message = data.get("message")
        if not isinstance(message, dict):
            raise ValueError("message.sent without a message")
        conversation_id = _str(data, "conversation_id")
        order = (conversation_id, _seq(message))
        frame = encode({"type": kind, "conversation_id": conversation_id, "message": message})
        return [Delivery(member, frame, order=order) for member in _pair(data, "members")]
    if kind == "message.seen":
        reader = _str(data, "user_id")
        seq = _seq(data)
        members = _pair(data, "members")
        frame = encode(
            {
                "type": kind,
                "conversation_id": _str(data, "conversation_id"),
                "user_id": reader,
                "seq": seq,
            }
        )
        return [Delivery(member, frame, None if member == reader else reader) for member in members]
    if kind in FRIENDSHIP_TYPES:
        if kind == "friendship.created":
            a, b = _str(data, "requester_id"), _str(data, "addressee_id")
        else:
            a, b = _pair(data, "user_ids")
        return [
            Delivery(a, encode({"type": kind, "user_id": b})),
            Delivery(b, encode({"type": kind, "user_id": a})),
        ]
    return []
