"""Bearer-token check: a locally verified JWT whose session is still live.

The signature is checked with session-service's public keys (RFC 8725: the algorithm is
pinned to EdDSA, the type to `at+jwt`, `kid` picks the key, and every claim is required
and checked). Keys are re-fetched when an unknown `kid` shows up (at most once a second,
so junk tokens cannot flood session-service) and every few minutes, so keys that
session-service no longer publishes stop being trusted. The
session's liveness comes from a cache fed by session-service's `ValidateSession` on a
miss and by `session.revoked` events, so a revocation reaches every gateway within a
second and a restarted gateway asks session-service again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from messenger.gateway.cache import EventFedCache, LinkEpoch
from messenger.pb.session.v1 import session_pb2 as session_pb
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.ids import is_valid_id
from messenger.platform.logging import log

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "iss", "aud", "jti"]
# Headers such as `jwk`, `jku`, `x5u`, `crit` would ask the verifier to trust what the
# token itself names; a token carrying any header but these is refused outright.
ALLOWED_HEADERS = frozenset({"alg", "typ", "kid"})
MAX_LIFETIME_SECONDS = 900
CLOCK_SKEW_SECONDS = 30
KEYS_MAX_AGE_SECONDS = 300.0
VERIFIED_TOKENS = 10_000
"""Tokens remembered as verified (a few hundred bytes each)."""


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    session_id: str


@dataclass(frozen=True)
class SigningKeys:
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    issuer: str = ""
    audience: str = ""


def signing_keys_from(answer: session_pb.GetSigningKeysResponse) -> SigningKeys:
    """Keep the EdDSA keys only: the algorithm is pinned, whatever else is published."""
    keys: dict[str, Ed25519PublicKey] = {}
    for key in answer.keys:
        if key.algorithm != ALGORITHM:
            continue
        try:
            public_key = load_pem_public_key(key.public_key_pem.encode())
        except ValueError:
            log.warning("unreadable signing key", kid=key.kid)
            continue
        if isinstance(public_key, Ed25519PublicKey):
            keys[key.kid] = public_key
    return SigningKeys(keys, answer.issuer, answer.audience)


def _unauthenticated(message: str = "The access token is not valid.") -> MessengerError:
    return MessengerError(ErrorCode.UNAUTHENTICATED, message)


def _expired() -> MessengerError:
    return MessengerError(ErrorCode.TOKEN_EXPIRED, "The access token has expired; refresh it.")


@dataclass(frozen=True, slots=True)
class _Verified:
    caller: Caller
    kid: str
    expires_at: int


class TokenVerifier:
    def __init__(
        self,
        fetch_keys: Callable[[], Awaitable[SigningKeys]],
        *,
        min_refresh_seconds: float = 1.0,
        max_age_seconds: float = KEYS_MAX_AGE_SECONDS,
        max_verified: int = VERIFIED_TOKENS,
    ) -> None:
        self._fetch_keys = fetch_keys
        self._min_refresh_seconds = min_refresh_seconds
        self._max_age_seconds = max_age_seconds
        self._keys = SigningKeys()
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self._max_verified = max_verified
        self._verified: dict[str, _Verified] = {}

    async def refresh(self) -> None:
        """Fetch the public keys now (at start-up, or on an unknown `kid`)."""
        self._keys = await self._fetch_keys()
        self._fetched_at = time.monotonic()

    async def _refresh_if_stale(self) -> None:
        """Drop keys session-service has retired; a failed fetch keeps the old set."""
        stale = (
            self._fetched_at is not None
            and time.monotonic() - self._fetched_at > self._max_age_seconds
        )
        if not stale or self._lock.locked():
            return
        async with self._lock:
            try:
                await self.refresh()
            except MessengerError as exc:
                log.warning("could not re-fetch the signing keys", error=exc.message)

    async def _key(self, kid: str) -> Ed25519PublicKey:
        await self._refresh_if_stale()
        key = self._keys.keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.keys.get(kid)
            recently = (
                self._fetched_at is not None
                and time.monotonic() - self._fetched_at < self._min_refresh_seconds
            )
            if key is None and not recently:
                await self.refresh()
                key = self._keys.keys.get(kid)
        if key is None:
            raise _unauthenticated()
        return key

    async def verify(self, token: str) -> Caller:
        """TOKEN_EXPIRED for a genuine token past its `exp`, UNAUTHENTICATED otherwise.

        A client sends the same token with every request for up to 15 minutes, and the
        Ed25519 check is most of a request's cost here (~0.2 ms), so tokens already found
        valid are remembered (bounded) until their `exp`, and only while the key that
        signed them is still trusted."""
        known = self._verified.get(token)
        if known is not None:
            await self._refresh_if_stale()
            if known.kid in self._keys.keys:
                if known.expires_at <= time.time():
                    del self._verified[token]
                    raise _expired()
                return known.caller
            del self._verified[token]
        caller, kid, expires_at = await self._verify_signed(token)
        if len(self._verified) >= self._max_verified:
            # The oldest entry goes: dicts keep insertion order.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = _Verified(caller, kid, expires_at)
        return caller

    async def _verify_signed(self, token: str) -> tuple[Caller, str, int]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthenticated() from None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise _unauthenticated()
        if not isinstance(kid, str) or not header.keys() <= ALLOWED_HEADERS:
            raise _unauthenticated()
        key = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._keys.audience,
                issuer=self._keys.issuer,
                # `iat` is checked below with CLOCK_SKEW_SECONDS: PyJWT would refuse any
                # future `iat`, so a session-service clock a second ahead of this one
                # would log everybody out.
                options={"require": REQUIRED_CLAIMS, "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise _expired() from None
        except jwt.PyJWTError:
            raise _unauthenticated() from None
        issued_at, expires_at = claims["iat"], claims["exp"]
        if not (isinstance(issued_at, int) and isinstance(expires_at, int)):
            raise _unauthenticated()
        if issued_at > time.time() + CLOCK_SKEW_SECONDS:
            raise _unauthenticated()
        if expires_at - issued_at > MAX_LIFETIME_SECONDS:
            raise _unauthenticated()
        if not isinstance(claims["jti"], str):
            raise _unauthenticated()
        user_id, session_id = claims["sub"], claims["sid"]
        if not (isinstance(user_id, str) and is_valid_id(user_id)):
            raise _unauthenticated()
        if not (isinstance(session_id, str) and is_valid_id(session_id)):
            raise _unauthenticated()
        return Caller(user_id, session_id), kid, expires_at


@dataclass(frozen=True)
class SessionState:
    active: bool
    user_id: str


class SessionGuard:
    """Is the token's session still live? Revocation is final, so a cached `False` is
    never overwritten by an answer that was already in flight."""

    def __init__(
        self,
        validate: Callable[[str], Awaitable[SessionState]],
        link_epoch: LinkEpoch,
        max_entries: int = 100_000,
    ) -> None:
        self._validate = validate
        self._cache: EventFedCache[str, SessionState] = EventFedCache(link_epoch, max_entries)

    async def check(self, caller: Caller) -> None:
        state = self._cache.get(caller.session_id)
        if state is None:
            ticket = self._cache.ticket()
            state = await self._validate(caller.session_id)
            self._cache.fill(caller.session_id, state, ticket)
        if not state.active or state.user_id != caller.user_id:
            raise MessengerError(
                ErrorCode.SESSION_REVOKED, "This session was revoked; log in again."
            )

    def revoked(self, session_id: str, user_id: str) -> None:
        self._cache.put(session_id, SessionState(False, user_id))


_bearer = HTTPBearer(auto_error=False, description="An access token from login or refresh.")

Authenticate = Callable[..., Awaitable[Caller]]


async def authenticate_request(authenticate: Authenticate, request: Request) -> Caller:
    """What the `authenticate` dependency does, for a route served outside FastAPI."""
    return await authenticate(credentials=await _bearer(request))


def authenticator(verifier: TokenVerifier, sessions: SessionGuard) -> Authenticate:
    """The FastAPI dependency of every route that needs `Authorization: Bearer`; being a
    dependency, it runs before the body is read, so 401 outranks every other error."""

    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None:
            raise _unauthenticated("A bearer access token is required.")
        caller = await verifier.verify(credentials.credentials)
        await sessions.check(caller)
        return caller

    return authenticate
