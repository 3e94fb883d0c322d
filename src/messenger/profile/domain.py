"""Profile rules: what a profile holds, what an update may change, and its ETag.

No I/O and no framework: the service layer applies these inside a unit of work.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from messenger.platform.errors import invalid

DISPLAY_NAME_MAX = 64
BIO_MAX = 500
AVATAR_URL_MAX = 2048
EDITABLE = ("display_name", "bio", "avatar_url")


@dataclass(frozen=True)
class Profile:
    user_id: str
    username: str
    display_name: str
    bio: str | None
    avatar_url: str | None
    email_verified: bool
    updated_at_ms: int
    version: int

    @property
    def etag(self) -> str:
        return etag_for(self.user_id, self.version)


def new_profile(user_id: str, username: str, display_name: str | None, now_ms: int) -> Profile:
    """The base profile made from `user.created`; display_name defaults to the username."""
    name = normalize_username(username)
    return Profile(
        user_id=user_id,
        username=name,
        display_name=display_name if display_name and not display_name.isspace() else name,
        bio=None,
        avatar_url=None,
        email_verified=False,
        updated_at_ms=now_ms,
        version=1,
    )


def normalize_username(username: str) -> str:
    return username.lower()


def etag_for(user_id: str, version: int) -> str:
    """A strong validator that changes with every version of the profile."""
    digest = hashlib.sha256(f"{user_id}:{version}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def _entity_tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match_hits(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison, `*` matches any current representation."""
    if not if_none_match:
        return False
    tags = _entity_tags(if_none_match)
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


def match_hits(if_match: str, etag: str) -> bool:
    """RFC 9110 If-Match: strong comparison, so a weak tag never matches."""
    tags = _entity_tags(if_match)
    return "*" in tags or etag in tags


def validate_changes(changes: dict[str, Any]) -> dict[str, str | None]:
    """The editable fields present in a PATCH body, checked against API.md's rules.

    Unknown fields are ignored; `null` clears bio and avatar_url, never display_name.
    """
    valid: dict[str, str | None] = {}
    for name in EDITABLE:
        if name not in changes:
            continue
        value = changes[name]
        if value is None and name != "display_name":
            valid[name] = None
            continue
        if not isinstance(value, str):
            raise invalid(f"{name}: must be a string.", field=name)
        if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            raise invalid(f"{name}: contains NUL or a lone surrogate.", field=name)
        valid[name] = _CHECKS[name](value)
    return valid


def _display_name(value: str) -> str:
    if not 1 <= len(value) <= DISPLAY_NAME_MAX or value.isspace():
        raise invalid(
            f"display_name: 1 to {DISPLAY_NAME_MAX} characters, not only whitespace.",
            field="display_name",
        )
    return value


def _bio(value: str) -> str:
    if len(value) > BIO_MAX:
        raise invalid(f"bio: at most {BIO_MAX} characters.", field="bio")
    return value


def _avatar_url(value: str) -> str:
    if len(value) > AVATAR_URL_MAX or not _is_https_url(value):
        raise invalid(
            f"avatar_url: an https URL of at most {AVATAR_URL_MAX} characters.",
            field="avatar_url",
        )
    return value


def _is_https_url(value: str) -> bool:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname) and port_ok


_CHECKS = {"display_name": _display_name, "bio": _bio, "avatar_url": _avatar_url}


def apply_changes(profile: Profile, changes: dict[str, str | None], now_ms: int) -> Profile | None:
    """The next version of the profile, or None when the changes change nothing."""
    updated = replace(
        profile,
        display_name=changes.get("display_name") or profile.display_name,
        bio=changes.get("bio", profile.bio),
        avatar_url=changes.get("avatar_url", profile.avatar_url),
    )
    if updated == profile:
        return None
    return replace(
        updated, updated_at_ms=max(now_ms, profile.updated_at_ms), version=profile.version + 1
    )


def mark_email_verified(profile: Profile, now_ms: int) -> Profile | None:
    if profile.email_verified:
        return None
    return replace(
        profile,
        email_verified=True,
        updated_at_ms=max(now_ms, profile.updated_at_ms),
        version=profile.version + 1,
    )
