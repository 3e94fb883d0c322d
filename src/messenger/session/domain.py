"""Session rules: what a session and a refresh token are, and when they are alive."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from messenger.platform.errors import invalid

ISSUER = "messenger"
AUDIENCE = "messenger"
ALGORITHM = "EdDSA"
DEFAULT_DEVICE_NAME = "unknown"
MAX_DEVICE_NAME = 64
DEFAULT_REASON = "revoked"
REUSE_REASON = "refresh_token_reused"
TOKEN_TYPE = "at+jwt"
# A new signing key is published at once but signs only this much later, so that every
# gateway can fetch it before the first token it signed arrives (gateways refetch on an
# unknown `kid` at most once a second; session instances re-read the keys every second).
KEY_ACTIVATION_DELAY_MS = 3_000
# How long past the end of its tokens' lifetime a retired key stays published: covers
# clock skew and a session instance that has not yet re-read the keys.
KEY_RETENTION_SLACK_MS = 60_000

_REASON = re.compile(r"[a-z_]{1,64}")
_REFRESH_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Only this digest is stored: a database leak yields no usable refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_plausible_refresh_token(token: str) -> bool:
    """A cheap syntactic filter, so junk never reaches the database."""
    return _REFRESH_TOKEN.fullmatch(token) is not None


def device_name(raw: str | None) -> str:
    """Empty means "unknown"; otherwise 1-64 code points, printable, not only whitespace."""
    if raw is None or raw == "":
        return DEFAULT_DEVICE_NAME
    if len(raw) > MAX_DEVICE_NAME:
        raise invalid(f"device_name must be at most {MAX_DEVICE_NAME} characters.", "device_name")
    if not raw.isprintable() or raw.isspace():
        raise invalid("device_name must be printable and not only whitespace.", "device_name")
    return raw


def revoke_reason(raw: str) -> str:
    if raw == "":
        return DEFAULT_REASON
    if _REASON.fullmatch(raw) is None:
        raise invalid("reason must be 1-64 of [a-z_].", "reason")
    return raw


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    device_name: str
    created_at_ms: int
    last_used_at_ms: int
    expires_at_ms: int
    revoked_at_ms: int | None

    def is_live(self, now: int) -> bool:
        return self.revoked_at_ms is None and now < self.expires_at_ms


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lives: `idle_ms` after its last refresh, `max_ms` at most."""

    idle_ms: int
    max_ms: int

    def expiry(self, created_at_ms: int, now: int) -> int:
        """The end of a session created then and refreshed now; also the expiry of the
        refresh token issued now (it cannot outlive its session)."""
        return min(now + self.idle_ms, created_at_ms + self.max_ms)

    def ended(self, created_at_ms: int, now: int) -> bool:
        """Past the absolute lifetime (also when the setting was lowered since)."""
        return now >= created_at_ms + self.max_ms


@dataclass(frozen=True)
class RefreshToken:
    token_hash: str
    session_id: str
    issued_at_ms: int
    rotated_at_ms: int | None
    expires_at_ms: int


class RefreshVerdict(Enum):
    """What presenting a stored refresh token means."""

    ROTATE = "rotate"
    INVALID = "invalid"
    REUSED = "reused"


def judge_refresh(token: RefreshToken, session: Session, now: int) -> RefreshVerdict:
    """A rotated token presented again is theft (the whole session dies); a token that
    is expired, or whose session is no longer live, is simply invalid."""
    if not session.is_live(now):
        return RefreshVerdict.INVALID
    if token.rotated_at_ms is not None:
        return RefreshVerdict.REUSED
    if now >= token.expires_at_ms:
        return RefreshVerdict.INVALID
    return RefreshVerdict.ROTATE


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    session_id: str
    user_id: str


@dataclass(frozen=True)
class PublicKey:
    kid: str
    algorithm: str
    public_key_pem: str


@dataclass(frozen=True)
class KeyTimes:
    """When a signing key was made; the rest of its life follows from its neighbours."""

    kid: str
    generation: int
    created_at_ms: int


def _oldest_first(keys: Sequence[KeyTimes]) -> list[KeyTimes]:
    return sorted(keys, key=lambda k: k.generation)


def activation_ms(key: KeyTimes, oldest_generation: int) -> int:
    """The oldest key signs from its creation (there is nothing to wait for); every
    later one after the activation delay."""
    if key.generation == oldest_generation:
        return key.created_at_ms
    return key.created_at_ms + KEY_ACTIVATION_DELAY_MS


def signing_kid(keys: Sequence[KeyTimes], now: int) -> str:
    """The newest key that is active now."""
    ordered = _oldest_first(keys)
    if not ordered:
        raise ValueError("no signing keys")
    oldest = ordered[0].generation
    active = [k for k in ordered if activation_ms(k, oldest) <= now]
    return (active or ordered)[-1].kid


def _retirements(keys: Sequence[KeyTimes]) -> list[tuple[KeyTimes, int | None]]:
    """Each key with the moment it stopped signing (its successor's activation)."""
    ordered = _oldest_first(keys)
    if not ordered:
        return []
    oldest = ordered[0].generation
    ends: list[int | None] = [activation_ms(k, oldest) for k in ordered[1:]]
    return list(zip(ordered, [*ends, None], strict=True))


def published_kids(keys: Sequence[KeyTimes], now: int, access_ttl_ms: int) -> list[str]:
    """Keys that verify tokens: the active and pending ones, and retired ones while a
    token they signed may still be unexpired. Newest first."""
    horizon = now - access_ttl_ms - KEY_RETENTION_SLACK_MS
    kept = [k.kid for k, retired in _retirements(keys) if retired is None or retired >= horizon]
    return kept[::-1]


def expired_kids(keys: Sequence[KeyTimes], now: int, access_ttl_ms: int) -> list[str]:
    """Retired keys no token of which can still be valid: their private halves go."""
    published = set(published_kids(keys, now, access_ttl_ms))
    return [k.kid for k in keys if k.kid not in published]


def rotation_due(keys: Sequence[KeyTimes], now: int, rotation_ms: int) -> bool:
    """Automatic rotation: the newest key is older than the rotation period (0: never)."""
    if rotation_ms <= 0 or not keys:
        return False
    return now - _oldest_first(keys)[-1].created_at_ms >= rotation_ms
