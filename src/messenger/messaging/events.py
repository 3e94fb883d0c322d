"""messaging-service events: the payloads it emits and the `friendship.accepted` handler."""

from __future__ import annotations

from typing import Any

from messenger.messaging import domain, store
from messenger.messaging.domain import Members, Message
from messenger.platform.clock import now_ms, to_rfc3339
from messenger.platform.events import Envelope
from messenger.platform.ids import new_id
from messenger.platform.uow import UnitOfWork

MESSAGE_SENT = "message.sent"
MESSAGE_SEEN = "message.seen"


def message_payload(message: Message) -> dict[str, Any]:
    """The message as API.md shows it, so the gateway can push it as it is."""
    return {
        "message_id": message.id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender_id": message.sender_id,
        "text": message.text,
        "sent_at": to_rfc3339(message.sent_at_ms),
        "client_message_id": message.client_message_id,
    }


def message_sent(members: Members, message: Message) -> dict[str, Any]:
    return {
        "conversation_id": members.conversation_id,
        "members": members.members,
        "message": message_payload(message),
    }


def message_seen(members: Members, user_id: str, seq: int) -> dict[str, Any]:
    return {
        "conversation_id": members.conversation_id,
        "user_id": user_id,
        "seq": seq,
        "members": members.members,
    }


async def on_friendship_accepted(uow: UnitOfWork, envelope: Envelope) -> None:
    """Open the pair's conversation so it shows in both lists; befriending again finds
    the one that already exists."""
    user_ids = envelope.data.get("user_ids")
    if (
        not isinstance(user_ids, list)
        or len(user_ids) != 2
        or not all(isinstance(u, str) for u in user_ids)
        or user_ids[0] == user_ids[1]
    ):
        raise ValueError(f"friendship.accepted {envelope.id} has no valid user_ids")
    conversation = domain.new_direct_conversation(new_id(), user_ids[0], user_ids[1], now_ms())
    await store.add_conversation(uow.conn, conversation)
