"""Payloads of the events session-service publishes (it consumes none)."""

from __future__ import annotations

from typing import Any

from messenger.session.domain import Session


def session_created(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "user_id": session.user_id,
        "device_name": session.device_name,
    }


def session_revoked(session_id: str, user_id: str, reason: str) -> dict[str, Any]:
    return {"session_id": session_id, "user_id": user_id, "reason": reason}
