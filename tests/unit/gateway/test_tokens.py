"""Access-token verification at the gateway, with keys made here."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from messenger.gateway.auth import SigningKeys, TokenVerifier
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.ids import new_id

ISSUER, AUDIENCE = "messenger-session", "messenger-gateway"


class KeyServer:
    """Plays session-service's GetSigningKeys and counts the calls."""

    def __init__(self) -> None:
        self.private = {"k1": Ed25519PrivateKey.generate()}
        self.calls = 0

    async def fetch(self) -> SigningKeys:
        self.calls += 1
        return SigningKeys(
            {kid: key.public_key() for kid, key in self.private.items()}, ISSUER, AUDIENCE
        )

    def token(self, kid: str = "k1", typ: str = "at+jwt", **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": new_id(),
            "sid": new_id(),
            "iat": now,
            "exp": now + 900,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": new_id(),
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(
            claims, self.private[kid], algorithm="EdDSA", headers={"kid": kid, "typ": typ}
        )


async def expect(verifier: TokenVerifier, token: str, code: ErrorCode) -> None:
    with pytest.raises(MessengerError) as caught:
        await verifier.verify(token)
    assert caught.value.code is code


async def test_a_valid_token_names_the_user_and_session() -> None:
    keys = KeyServer()
    user_id, session_id = new_id(), new_id()
    caller = await TokenVerifier(keys.fetch).verify(keys.token(sub=user_id, sid=session_id))
    assert (caller.user_id, caller.session_id) == (user_id, session_id)


async def test_expired_is_token_expired() -> None:
    keys = KeyServer()
    past = int(time.time()) - 3600
    await expect(
        TokenVerifier(keys.fetch), keys.token(iat=past, exp=past + 60), ErrorCode.TOKEN_EXPIRED
    )


async def test_a_token_verified_before_still_expires() -> None:
    keys = KeyServer()
    verifier = TokenVerifier(keys.fetch)
    expires_at = int(time.time()) + 1
    token = keys.token(exp=expires_at)
    assert await verifier.verify(token)
    assert await verifier.verify(token)
    await asyncio.sleep(expires_at - time.time() + 0.05)
    await expect(verifier, token, ErrorCode.TOKEN_EXPIRED)
    await expect(verifier, token, ErrorCode.TOKEN_EXPIRED)


@pytest.mark.parametrize(
    "overrides",
    [
        {"sid": None},
        {"sub": None},
        {"iat": None},
        {"exp": None},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"sub": "not-an-id"},
        {"sid": 12},
        {"jti": None},
        {"exp": int(time.time()) + 3600},
        {"iat": int(time.time()) + 600, "exp": int(time.time()) + 900},
    ],
)
async def test_bad_claims_are_unauthenticated(overrides: dict[str, Any]) -> None:
    keys = KeyServer()
    await expect(TokenVerifier(keys.fetch), keys.token(**overrides), ErrorCode.UNAUTHENTICATED)


async def test_an_iat_a_little_ahead_is_clock_skew_and_accepted() -> None:
    """A session-service clock a few seconds ahead of the gateway's must not log anyone out."""
    keys = KeyServer()
    ahead = int(time.time()) + 20
    caller = await TokenVerifier(keys.fetch).verify(keys.token(iat=ahead, exp=ahead + 900))
    assert caller.user_id


async def test_a_token_of_another_type_is_unauthenticated() -> None:
    keys = KeyServer()
    await expect(TokenVerifier(keys.fetch), keys.token(typ="JWT"), ErrorCode.UNAUTHENTICATED)


async def test_keys_no_longer_published_stop_being_trusted() -> None:
    keys = KeyServer()
    verifier = TokenVerifier(keys.fetch, max_age_seconds=0.1)
    old = keys.token()
    assert await verifier.verify(old)
    del keys.private["k1"]
    keys.private["k2"] = Ed25519PrivateKey.generate()
    await asyncio.sleep(0.15)
    await expect(verifier, old, ErrorCode.UNAUTHENTICATED)
    assert await verifier.verify(keys.token(kid="k2"))


async def test_forged_and_garbled_tokens_are_unauthenticated() -> None:
    keys = KeyServer()
    verifier = TokenVerifier(keys.fetch)
    good = keys.token()
    forged = jwt.encode(
        jwt.decode(good, options={"verify_signature": False}),
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": "k1"},
    )
    await expect(verifier, forged, ErrorCode.UNAUTHENTICATED)
    unsigned = jwt.encode(
        jwt.decode(good, options={"verify_signature": False}), "", algorithm="none"
    )
    await expect(verifier, unsigned, ErrorCode.UNAUTHENTICATED)
    hmac = jwt.encode({"sub": new_id()}, "secret" * 8, algorithm="HS256", headers={"kid": "k1"})
    await expect(verifier, hmac, ErrorCode.UNAUTHENTICATED)
    await expect(verifier, "not.a.token", ErrorCode.UNAUTHENTICATED)
    await expect(verifier, good[:-4], ErrorCode.UNAUTHENTICATED)


async def test_unknown_kid_refetches_the_keys_at_a_limited_rate() -> None:
    keys = KeyServer()
    verifier = TokenVerifier(keys.fetch, min_refresh_seconds=0.2)
    await verifier.refresh()
    keys.private["k2"] = Ed25519PrivateKey.generate()
    await expect(verifier, keys.token(kid="k2"), ErrorCode.UNAUTHENTICATED)
    assert keys.calls == 1
    await asyncio.sleep(0.25)
    assert await verifier.verify(keys.token(kid="k2"))
    assert keys.calls == 2
    keys.private["k3"] = Ed25519PrivateKey.generate()
    await expect(verifier, keys.token(kid="k3"), ErrorCode.UNAUTHENTICATED)
    assert keys.calls == 2


async def test_keys_are_fetched_on_first_use_when_start_up_missed_them() -> None:
    keys = KeyServer()
    verifier = TokenVerifier(keys.fetch)
    assert await verifier.verify(keys.token())
    assert keys.calls == 1
