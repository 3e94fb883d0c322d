"""The one envelope of every event on the bus (DESIGN.md, "Events")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from messenger.platform.clock import now_ms, to_rfc3339
from messenger.platform.ids import new_id

SUBJECT_PREFIX = "messenger."

EVENT_TYPES = (
    "user.created",
    "user.email_verified",
    "profile.updated",
    "friendship.created",
    "friendship.accepted",
    "friendship.removed",
    "message.sent",
    "message.seen",
    "session.created",
    "session.revoked",
)


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    version: int
    occurred_at: str
    producer: str
    request_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls, event_type: str, data: dict[str, Any], *, producer: str, request_id: str | None
    ) -> Envelope:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        return cls(
            id=new_id(),
            type=event_type,
            version=1,
            occurred_at=to_rfc3339(now_ms()),
            producer=producer,
            request_id=request_id,
            data=data,
        )

    @property
    def subject(self) -> str:
        return SUBJECT_PREFIX + self.type

    def to_json(self) -> bytes:
        return self._json

    @cached_property
    def _json(self) -> bytes:
        """Encoded once: the outbox row and the publish both need it."""
        doc = {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at,
            "producer": self.producer,
            "request_id": self.request_id,
            "data": self.data,
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Envelope:
        """Raises ValueError for anything that is not a well-formed envelope."""
        try:
            doc = json.loads(raw)
            envelope = cls(
                id=str(doc["id"]),
                type=str(doc["type"]),
                version=int(doc["version"]),
                occurred_at=str(doc["occurred_at"]),
                producer=str(doc["producer"]),
                request_id=doc.get("request_id"),
                data=dict(doc["data"]),
            )
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed event envelope: {exc}") from exc
        return envelope
