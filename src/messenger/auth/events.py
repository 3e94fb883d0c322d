"""Payloads of the events auth-service publishes (it consumes none)."""

from __future__ import annotations

from typing import Any

from messenger.auth.domain import Account
from messenger.platform.clock import to_rfc3339


def user_created(account: Account, display_name: str) -> dict[str, Any]:
    return {
        "user_id": account.id,
        "username": account.username,
        "display_name": display_name,
        "created_at": to_rfc3339(account.created_at_ms),
    }


def user_email_verified(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id}
