"""Account rules: what a valid email, username, password and display name are; email
tokens; the throttle on failed logins; the text of the emails. No I/O here."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from messenger.platform.errors import invalid

MIN_USERNAME, MAX_USERNAME = 3, 32
MIN_PASSWORD, MAX_PASSWORD = 8, 256
MAX_EMAIL = 254
MAX_DISPLAY_NAME = 64
MAX_DEVICE_NAME = 64
MAX_LOGIN = 1024

_USERNAME = re.compile(rf"[a-z0-9_]{{{MIN_USERNAME},{MAX_USERNAME}}}")
_EMAIL_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Address-list syntax: refused, so that one stored email is always exactly one mailbox.
_EMAIL_SPECIALS = frozenset('"(),:;<>[\\]')


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    email_lower: str
    username: str
    password_hash: str
    email_verified: bool
    created_at_ms: int


@dataclass(frozen=True)
class LoginTokens:
    """What a successful login returns: session-service's token pair."""

    access_token: str
    expires_in: int
    refresh_token: str
    session_id: str
    user_id: str


@dataclass(frozen=True)
class Registration:
    """Register's input once every rule has passed (the password is normalised)."""

    email: str
    email_lower: str
    username: str
    password: str
    display_name: str


def normalize_username(raw: str) -> str:
    """Lower-cased first, then 3-32 of [a-z0-9_]."""
    username = raw.lower()
    if _USERNAME.fullmatch(username) is None:
        raise invalid(
            f"username must be {MIN_USERNAME}-{MAX_USERNAME} of a-z, 0-9 and _.", "username"
        )
    return username


def email_key(email: str) -> str:
    """Emails are kept as typed and compared case-insensitively through this key."""
    return email.lower()


def is_valid_email(raw: str) -> bool:
    """A sane syntactic check: one @, a local part, a dotted domain, nothing invisible,
    no quoting or list syntax."""
    if not 0 < len(raw) <= MAX_EMAIL or raw.count("@") != 1:
        return False
    if any(ch.isspace() or not ch.isprintable() or ch in _EMAIL_SPECIALS for ch in raw):
        return False
    local, _, domain = raw.partition("@")
    labels = domain.split(".")
    return bool(local) and len(labels) >= 2 and all(labels)


def check_email(raw: str) -> str:
    if not is_valid_email(raw):
        raise invalid("email is not a valid email address.", "email")
    return raw


def normalize_password(raw: str, field: str = "password") -> str:
    """NFKC first, then 8-256 code points; the normalised form is what gets hashed."""
    password = unicodedata.normalize("NFKC", raw)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise invalid(f"{field} must be {MIN_PASSWORD}-{MAX_PASSWORD} characters long.", field)
    if "\x00" in password:
        raise invalid(f"{field} must not contain NUL characters.", field)
    return password


def password_for_check(raw: str) -> str | None:
    """The normalised candidate, or None when it cannot possibly be a valid password."""
    password = unicodedata.normalize("NFKC", raw)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or "\x00" in password:
        return None
    return password


def check_device_name(raw: str | None) -> str:
    """Optional (empty: session-service's "unknown"); at most 64 printable code points,
    not only whitespace."""
    if raw is None or raw == "":
        return ""
    if len(raw) > MAX_DEVICE_NAME:
        raise invalid(f"device_name must be at most {MAX_DEVICE_NAME} characters.", "device_name")
    if not raw.isprintable() or raw.isspace():
        raise invalid("device_name must be printable and not only whitespace.", "device_name")
    return raw


def check_display_name(raw: str | None, username: str) -> str:
    """Optional; 1-64 code points with something visible. Defaults to the username."""
    if raw is None:
        return username
    if not 0 < len(raw) <= MAX_DISPLAY_NAME:
        raise invalid(f"display_name must be 1-{MAX_DISPLAY_NAME} characters long.", "display_name")
    if raw.isspace():
        raise invalid("display_name must contain a non-whitespace character.", "display_name")
    if "\x00" in raw:
        raise invalid("display_name must not contain NUL characters.", "display_name")
    return raw


def check_registration(
    email: str, username: str, password: str, display_name: str | None
) -> Registration:
    """Every register rule, checked field by field in the order of the request."""
    checked_email = check_email(email)
    checked_username = normalize_username(username)
    return Registration(
        email=checked_email,
        email_lower=email_key(checked_email),
        username=checked_username,
        password=normalize_password(password),
        display_name=check_display_name(display_name, checked_username),
    )


class TokenPurpose(Enum):
    VERIFY = "verify"
    RESET = "reset"

    @property
    def ttl_ms(self) -> int:
        return 24 * 3600 * 1000 if self is TokenPurpose.VERIFY else 3600 * 1000


@dataclass(frozen=True)
class EmailToken:
    token_hash: str
    user_id: str
    purpose: TokenPurpose
    created_at_ms: int
    expires_at_ms: int
    used_at_ms: int | None

    def is_usable(self, now: int) -> bool:
        return self.used_at_ms is None and now < self.expires_at_ms


def new_email_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Only this digest is stored: a database leak yields no usable email token."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_plausible_email_token(token: str) -> bool:
    return _EMAIL_TOKEN.fullmatch(token) is not None


@dataclass(frozen=True)
class Mail:
    recipient: str
    subject: str
    body: str


def verification_mail(recipient: str, username: str, base_url: str, token: str) -> Mail:
    link = f"{base_url}/verify-email?token={token}"
    return Mail(
        recipient=recipient,
        subject="Verify your email address",
        body=(
            f"Hello {username},\n\n"
            f"please confirm your email address by opening this link:\n\n{link}\n\n"
            "The link is valid for 24 hours. If you did not sign up, ignore this email.\n"
        ),
    )


def reset_mail(recipient: str, username: str, base_url: str, token: str) -> Mail:
    link = f"{base_url}/reset-password?token={token}"
    return Mail(
        recipient=recipient,
        subject="Reset your password",
        body=(
            f"Hello {username},\n\n"
            f"to choose a new password, open this link:\n\n{link}\n\n"
            "The link is valid for 1 hour. If you did not ask for it, ignore this email.\n"
        ),
    )


def throttle_key(kind: str, value: str) -> str:
    """What failed logins are counted under, hashed: the table stores no login names or
    addresses, and every key has the same length."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def retry_after_seconds(
    failures_ms: Iterable[int], now: int, max_failures: int, window_ms: int
) -> int | None:
    """None while fewer than `max_failures` failures lie within the window; otherwise
    the whole seconds until enough of them have aged out."""
    recent = sorted(t for t in failures_ms if t > now - window_ms)
    if len(recent) < max_failures:
        return None
    released_at = recent[len(recent) - max_failures] + window_ms
    return max(1, math.ceil((released_at - now) / 1000))
