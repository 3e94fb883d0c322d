"""Ed25519 signing keys and the access tokens (JWT, EdDSA) they sign."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from messenger.platform.ids import new_id
from messenger.session.domain import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    TOKEN_TYPE,
    KeyTimes,
    signing_kid,
)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    generation: int
    private_pem: str
    public_pem: str
    created_at_ms: int

    @property
    def times(self) -> KeyTimes:
        return KeyTimes(self.kid, self.generation, self.created_at_ms)


def generate_signing_key(generation: int, created_at_ms: int) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return SigningKey(new_id(), generation, private_pem, public_pem, created_at_ms)


def _load_private(key: SigningKey) -> Ed25519PrivateKey:
    private = serialization.load_pem_private_key(key.private_pem.encode(), None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"signing key {key.kid} is not an Ed25519 key")
    return private


class Keyring:
    """The signing keys as last read from the store, private halves decoded once; which
    one signs follows from the clock (a rotated-in key starts after its delay)."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        self._times: list[KeyTimes] = []
        self._private: dict[str, Ed25519PrivateKey] = {}
        self.replace(keys)

    def replace(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        decoded = {k.kid: self._private.get(k.kid) or _load_private(k) for k in keys}
        self._times = [k.times for k in keys]
        self._private = decoded

    def current(self, now_ms: int) -> tuple[str, Ed25519PrivateKey]:
        kid = signing_kid(self._times, now_ms)
        return kid, self._private[kid]


class Signer:
    """Signs access tokens (RFC 9068 `at+jwt`) with the keyring's current key; `kid`
    tells verifiers which public key to use."""

    def __init__(self, keyring: Keyring, ttl_seconds: int) -> None:
        self.keyring = keyring
        self.ttl_seconds = ttl_seconds

    def access_token(self, user_id: str, session_id: str, now_ms: int) -> str:
        kid, private = self.keyring.current(now_ms)
        issued_at = now_ms // 1000
        claims = {
            "sub": user_id,
            "sid": session_id,
            "iat": issued_at,
            "exp": issued_at + self.ttl_seconds,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": new_id(),
        }
        return jwt.encode(
            claims, private, algorithm=ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE}
        )
