"""Ed25519 signing keys and the access tokens (JWT, EdDSA) they sign."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from messenger.platform.ids import new_id
from messenger.session.domain import ALGORITHM, AUDIENCE, ISSUER


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    public_pem: str
    created_at_ms: int


def generate_signing_key(created_at_ms: int) -> SigningKey:
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
    return SigningKey(new_id(), private_pem, public_pem, created_at_ms)


class Signer:
    """Signs access tokens with one key, loaded once; `kid` tells verifiers which key."""

    def __init__(self, key: SigningKey, ttl_seconds: int) -> None:
        self._kid = key.kid
        private = serialization.load_pem_private_key(key.private_pem.encode(), None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"signing key {key.kid} is not an Ed25519 key")
        self._private = private
        self.ttl_seconds = ttl_seconds

    def access_token(self, user_id: str, session_id: str, now_ms: int) -> str:
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
        return jwt.encode(claims, self._private, algorithm=ALGORITHM, headers={"kid": self._kid})
