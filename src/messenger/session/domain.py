"""Session rules: what a session and a refresh token are, and when they are alive."""

from __future__ import annotations

import hashlib
import re
import secrets
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
