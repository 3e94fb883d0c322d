"""Session rules and access-token signing, without I/O."""

from __future__ import annotations

import re

import jwt
import pytest

from messenger.platform.errors import ErrorCode, MessengerError
from messenger.session import domain
from messenger.session.domain import KeyTimes, Lifetimes, RefreshToken, RefreshVerdict, Session
from messenger.session.tokens import Keyring, Signer, generate_signing_key

NOW = 1_800_000_000_000


def session(revoked_at_ms: int | None = None, expires_at_ms: int = NOW + 1000) -> Session:
    return Session("s", "u", "unknown", NOW - 10, NOW - 10, expires_at_ms, revoked_at_ms)


def refresh_token(
    rotated_at_ms: int | None = None, expires_at_ms: int = NOW + 1000
) -> RefreshToken:
    return RefreshToken("h", "s", NOW - 10, rotated_at_ms, expires_at_ms)


def test_a_current_token_of_a_live_session_rotates() -> None:
    assert domain.judge_refresh(refresh_token(), session(), NOW) is RefreshVerdict.ROTATE


def test_a_rotated_token_presented_again_is_reuse() -> None:
    assert domain.judge_refresh(refresh_token(NOW - 5), session(), NOW) is RefreshVerdict.REUSED


@pytest.mark.parametrize(
    ("token", "owner"),
    [
        (refresh_token(expires_at_ms=NOW), session()),
        (refresh_token(), session(revoked_at_ms=NOW - 1)),
        (refresh_token(NOW - 5), session(revoked_at_ms=NOW - 1)),
        (refresh_token(), session(expires_at_ms=NOW)),
    ],
)
def test_expired_tokens_and_dead_sessions_are_invalid(token: RefreshToken, owner: Session) -> None:
    assert domain.judge_refresh(token, owner, NOW) is RefreshVerdict.INVALID


def test_sessions_are_live_until_revoked_or_expired() -> None:
    assert session().is_live(NOW)
    assert not session(revoked_at_ms=NOW).is_live(NOW)
    assert not session(expires_at_ms=NOW).is_live(NOW)


def test_refresh_tokens_are_random_url_safe_and_stored_hashed() -> None:
    token = domain.new_refresh_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert domain.is_plausible_refresh_token(token)
    assert domain.new_refresh_token() != token
    assert re.fullmatch(r"[0-9a-f]{64}", domain.hash_token(token))
    for junk in ["", "a b", "x" * 129, "ü" * 10]:
        assert not domain.is_plausible_refresh_token(junk)


def test_device_names_default_to_unknown() -> None:
    assert domain.device_name("") == "unknown"
    assert domain.device_name(None) == "unknown"
    assert domain.device_name("Firefox on Linux") == "Firefox on Linux"
    for bad in ["x" * 65, " ", "a\x00", "line\nbreak"]:
        with pytest.raises(MessengerError) as error:
            domain.device_name(bad)
        assert error.value.code is ErrorCode.VALIDATION_FAILED


def test_revoke_reasons() -> None:
    assert domain.revoke_reason("") == "revoked"
    assert domain.revoke_reason("password_reset") == "password_reset"
    with pytest.raises(MessengerError):
        domain.revoke_reason("Not A Reason")


def test_access_tokens_are_eddsa_jwts_with_kid_and_claims() -> None:
    key = generate_signing_key(1, NOW)
    token = Signer(Keyring([key]), 900).access_token("user", "sess", NOW)
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"}
    claims = jwt.decode(
        token,
        key.public_pem,
        algorithms=["EdDSA"],
        audience="messenger",
        issuer="messenger",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "user"
    assert claims["sid"] == "sess"
    assert claims["iat"] == NOW // 1000
    assert claims["exp"] == NOW // 1000 + 900
    assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"])
    other = generate_signing_key(2, NOW)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other.public_pem, algorithms=["EdDSA"], audience="messenger")


DELAY = domain.KEY_ACTIVATION_DELAY_MS
TTL = 900_000
SLACK = domain.KEY_RETENTION_SLACK_MS


def test_sessions_end_after_the_idle_timeout_or_the_absolute_lifetime() -> None:
    lifetimes = Lifetimes(idle_ms=1000, max_ms=5000)
    assert lifetimes.expiry(NOW, NOW) == NOW + 1000
    assert lifetimes.expiry(NOW, NOW + 3000) == NOW + 4000
    assert lifetimes.expiry(NOW, NOW + 4500) == NOW + 5000


def test_the_first_key_signs_at_once_a_rotated_in_key_after_its_delay() -> None:
    first = KeyTimes("a", 1, NOW)
    assert domain.signing_kid([first], NOW) == "a"
    second = KeyTimes("b", 2, NOW + 10_000)
    keys = [second, first]
    assert domain.signing_kid(keys, NOW + 10_000) == "a"
    assert domain.signing_kid(keys, NOW + 10_000 + DELAY - 1) == "a"
    assert domain.signing_kid(keys, NOW + 10_000 + DELAY) == "b"
    # Pending keys are published before they sign, so verifiers know them in time.
    assert domain.published_kids(keys, NOW + 10_000, TTL) == ["b", "a"]


def test_a_retired_key_is_published_until_its_last_token_has_expired() -> None:
    keys = [KeyTimes("a", 1, NOW), KeyTimes("b", 2, NOW)]
    retired = NOW + DELAY
    assert domain.published_kids(keys, retired + TTL + SLACK, TTL) == ["b", "a"]
    assert domain.expired_kids(keys, retired + TTL + SLACK, TTL) == []
    assert domain.published_kids(keys, retired + TTL + SLACK + 1, TTL) == ["b"]
    assert domain.expired_kids(keys, retired + TTL + SLACK + 1, TTL) == ["a"]


def test_automatic_rotation_is_due_when_the_newest_key_is_old() -> None:
    keys = [KeyTimes("a", 1, NOW - 5000), KeyTimes("b", 2, NOW - 1000)]
    assert not domain.rotation_due(keys, NOW, 2000)
    assert domain.rotation_due(keys, NOW, 1000)
    assert not domain.rotation_due(keys, NOW, 0)


def test_the_keyring_signs_with_the_active_key() -> None:
    first, second = generate_signing_key(1, NOW), generate_signing_key(2, NOW + 1)
    signer = Signer(Keyring([first]), 900)
    signer.keyring.replace([second, first])
    kid = jwt.get_unverified_header(signer.access_token("u", "s", NOW + 2))["kid"]
    assert kid == first.kid
    kid = jwt.get_unverified_header(signer.access_token("u", "s", NOW + 1 + DELAY))["kid"]
    assert kid == second.kid
