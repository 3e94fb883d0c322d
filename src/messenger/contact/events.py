"""contact-service events: the payloads it emits and the `user.created` handler."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from messenger.contact import store
from messenger.contact.domain import Friendship
from messenger.platform.clock import now_ms
from messenger.platform.events import Envelope
from messenger.platform.uow import UnitOfWork

FRIENDSHIP_CREATED = "friendship.created"
FRIENDSHIP_ACCEPTED = "friendship.accepted"
FRIENDSHIP_REMOVED = "friendship.removed"


def friendship_created(record: Friendship) -> dict[str, Any]:
    return {
        "requester_id": record.requester_id,
        "addressee_id": record.addressee_id,
        "user_ids": record.user_ids,
    }


def friendship_accepted(record: Friendship, accepted_by: str) -> dict[str, Any]:
    return {"user_ids": record.user_ids, "accepted_by": accepted_by}


def friendship_removed(record: Friendship, removed_by: str, reason: str) -> dict[str, Any]:
    return {"user_ids": record.user_ids, "removed_by": removed_by, "reason": reason}


def _created_at_ms(value: Any) -> int:
    """auth's `created_at` as ms, whether it came as RFC 3339 text or as a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            pass
    return now_ms()


async def on_user_created(uow: UnitOfWork, envelope: Envelope) -> None:
    """Remember the user so that friend requests to them can be accepted as valid."""
    data = envelope.data
    user_id, username = data.get("user_id"), data.get("username")
    if not isinstance(user_id, str) or not isinstance(username, str):
        raise ValueError(f"user.created {envelope.id} lacks user_id or username")
    display_name = data.get("display_name")
    await store.add_user(
        uow.conn,
        user_id=user_id,
        username=username,
        display_name=display_name if isinstance(display_name, str) else None,
        created_at_ms=_created_at_ms(data.get("created_at")),
    )
