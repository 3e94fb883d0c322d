"""Acceptance 1: forged and broken access tokens are refused with 401 (RFC 8725)."""

from __future__ import annotations

import json
import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from messenger.platform.ids import new_id
from tests.e2e.harness import eventually, signup
from tests.security.cluster import Cluster, signing_keys
from tests.security.helpers import b64, check, fresh_claims, hs256, unsigned, unverified


async def test_forged_and_broken_tokens_are_refused(
    gw1: httpx.AsyncClient, cluster: Cluster
) -> None:
    ada = await signup(gw1, cluster, "ada")
    bob = await signup(gw1, cluster, "bob")
    assert await check(gw1, ada.access_token) == (200, None)
    header, _ = unverified(ada.access_token)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": header["kid"]}
    (key,) = [k for k in await signing_keys(cluster.settings) if k["kid"] == header["kid"]]
    private = load_pem_private_key(key["private_pem"].encode(), None)
    assert isinstance(private, Ed25519PrivateKey)
    now = int(time.time())
    attacker = Ed25519PrivateKey.generate()
    attacker_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key()))

    def signed(claims: dict[str, object], **headers: object) -> str:
        """Signed with the real key (as if the database had leaked), so that only the
        claims or headers can make it fail."""
        return jwt.encode(
            claims,
            private,
            algorithm="EdDSA",
            headers={"kid": header["kid"], "typ": "at+jwt", **headers},
        )

    assert await check(gw1, signed(fresh_claims(ada))) == (200, None)
    unauthenticated = {
        "alg none": unsigned({**header, "alg": "none"}, fresh_claims(ada)),
        "alg none, no kid": unsigned({"alg": "none", "typ": "at+jwt"}, fresh_claims(ada)),
        "HS256 keyed with the public key": hs256(
            {**header, "alg": "HS256"}, fresh_claims(ada), key["public_pem"].encode()
        ),
        "wrong aud": signed(fresh_claims(ada, aud="someone-else")),
        "aud list without ours": signed(fresh_claims(ada, aud=["other"])),
        "wrong iss": signed(fresh_claims(ada, iss="https://evil.example")),
        "unknown kid": jwt.encode(
            fresh_claims(ada),
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": new_id(), "typ": "at+jwt"},
        ),
        "right kid, other key": jwt.encode(
            fresh_claims(ada),
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "kid path injection": signed(fresh_claims(ada), kid="../../../../dev/null"),
        "embedded jwk": jwt.encode(
            fresh_claims(ada),
            attacker,
            algorithm="EdDSA",
            headers={"kid": header["kid"], "typ": "at+jwt", "jwk": attacker_jwk},
        ),
        "jku header": signed(fresh_claims(ada), jku="https://evil.example/keys"),
        "not an access token": signed(fresh_claims(ada), typ="JWT"),
        "no jti": signed({k: v for k, v in fresh_claims(ada).items() if k != "jti"}),
        "no sid": signed({k: v for k, v in fresh_claims(ada).items() if k != "sid"}),
        "lives a day": signed(fresh_claims(ada, iat=now, exp=now + 86400)),
        "issued in the future": signed(fresh_claims(ada, iat=now + 3600, exp=now + 3900)),
        "not a JWT": "not-a-token",
        "empty signature": ada.access_token.rsplit(".", 1)[0] + ".",
    }
    # A tampered payload: Bob's id in Ada's genuine token, signature kept.
    head, _, signature = ada.access_token.split(".")
    _, claims = unverified(ada.access_token)
    claims["sub"] = bob.user_id
    unauthenticated["tampered payload"] = f"{head}.{b64(json.dumps(claims).encode())}.{signature}"
    for name, token in unauthenticated.items():
        assert await check(gw1, token) == (401, "unauthenticated"), name

    expired = signed(fresh_claims(ada, iat=now - 1000, exp=now - 100))
    assert await check(gw1, expired) == (401, "token_expired")
    # Bob's session id in a token for Ada, validly signed: the session is not hers.
    stolen_sid = signed(fresh_claims(ada, sid=bob.session_id))
    assert await check(gw1, stolen_sid) == (401, "session_revoked")

    assert (await gw1.post("/v1/auth/logout", headers=ada.auth)).status_code == 204

    async def revoked() -> bool:
        return await check(gw1, ada.access_token) == (401, "session_revoked")

    await eventually(revoked, timeout=1)
    assert await check(gw1, signed(fresh_claims(ada))) == (401, "session_revoked")
    assert await check(gw1, bob.access_token) == (200, None)
