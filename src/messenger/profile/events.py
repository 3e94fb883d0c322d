"""profile-service's events: what it publishes and how it handles auth's events."""

from __future__ import annotations

from typing import Any

from messenger.platform.events import Envelope
from messenger.platform.uow import UnitOfWork
from messenger.profile import service
from messenger.profile.domain import Profile


def profile_updated(profile: Profile) -> dict[str, Any]:
    """Enough for gateways to drop their cached copy; readers fetch the new version."""
    return {"user_id": profile.user_id, "version": profile.version}


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"event data has no {key}")
    return value


async def on_user_created(uow: UnitOfWork, envelope: Envelope) -> None:
    display_name = envelope.data.get("display_name")
    await service.create_profile(
        uow,
        _text(envelope.data, "user_id"),
        _text(envelope.data, "username"),
        display_name if isinstance(display_name, str) else None,
    )


async def on_email_verified(uow: UnitOfWork, envelope: Envelope) -> None:
    await service.record_email_verified(uow, _text(envelope.data, "user_id"))
