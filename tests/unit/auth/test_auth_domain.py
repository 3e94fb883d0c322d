"""The account rules of API.md, without I/O."""

from __future__ import annotations

import re

import pytest

from messenger.auth import domain
from messenger.platform.errors import ErrorCode, MessengerError


def field_of(error: pytest.ExceptionInfo[MessengerError]) -> str | None:
    assert error.value.code is ErrorCode.VALIDATION_FAILED
    return error.value.field


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice", "alice"),
        ("Alice_01", "alice_01"),
        ("ABC", "abc"),
        ("a" * 32, "a" * 32),
        ("\u212aelvin", "kelvin"),  # KELVIN SIGN lower-cases to an ASCII k
    ],
)
def test_usernames_are_lower_cased_first(raw: str, expected: str) -> None:
    assert domain.normalize_username(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "ab", "a" * 33, "al-ice", "al ice", "alice\n", "älice", "al.ice", "İstanbul"]
)
def test_invalid_usernames(raw: str) -> None:
    with pytest.raises(MessengerError) as error:
        domain.normalize_username(raw)
    assert field_of(error) == "username"


@pytest.mark.parametrize(
    "raw",
    ["a@b.co", "Alice.Smith+tag@Example.COM", "jó@exämple.com", "x@" + "d" * 248 + ".io"],
)
def test_valid_emails_are_kept_as_typed(raw: str) -> None:
    assert domain.check_email(raw) == raw
    assert domain.email_key(raw) == raw.lower()


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "@example.com",
        "a@@example.com",
        "a@b@example.com",
        "a@example",
        "a@example.",
        "a@.example.com",
        "a@example..com",
        "a b@example.com",
        "a@example.com\n",
        "a\x00@example.com",
        "a\u200b@example.com",
        "a,attacker@example.com",
        "a;b@example.com",
        '"a"@example.com',
        "Name <a@example.com>",
        "a@[127.0.0.1]",
        "x@" + "d" * 250 + ".io",
    ],
)
def test_invalid_emails(raw: str) -> None:
    with pytest.raises(MessengerError) as error:
        domain.check_email(raw)
    assert field_of(error) == "email"


def test_email_length_counts_code_points() -> None:
    assert len("é@" + "d" * 249 + ".io") == 254
    assert domain.is_valid_email("é@" + "d" * 249 + ".io")
    assert not domain.is_valid_email("é@" + "d" * 250 + ".io")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("password", "password"),
        ("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44", "password"),  # fullwidth
        ("ﬁﬁﬁﬁ", "fifififi"),  # 4 code points typed, 8 after NFKC
        ("😀" * 8, "😀" * 8),
        ("x" * 256, "x" * 256),
    ],
)
def test_passwords_are_nfkc_normalised_then_counted(raw: str, expected: str) -> None:
    assert domain.normalize_password(raw) == expected
    assert domain.password_for_check(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1234567",
        "x" * 257,
        "e\u0301" * 4,  # 8 code points typed, 4 after NFKC composes them
        "\x00" * 8,
    ],
)
def test_invalid_passwords(raw: str) -> None:
    with pytest.raises(MessengerError) as error:
        domain.normalize_password(raw, "new_password")
    assert field_of(error) == "new_password"
    assert domain.password_for_check(raw) is None


def test_display_name_defaults_to_the_username() -> None:
    assert domain.check_display_name(None, "alice") == "alice"
    assert domain.check_display_name(" Ali ", "alice") == " Ali "
    assert domain.check_display_name("ß" * 64, "alice") == "ß" * 64


@pytest.mark.parametrize("raw", ["", " ", "\t\n", "x" * 65, "a\x00"])
def test_invalid_display_names(raw: str) -> None:
    with pytest.raises(MessengerError) as error:
        domain.check_display_name(raw, "alice")
    assert field_of(error) == "display_name"


def test_registration_checks_every_field() -> None:
    registration = domain.check_registration("Bob@Example.org", "BOB", "ﬁﬁﬁﬁ", None)
    assert registration == domain.Registration(
        email="Bob@Example.org",
        email_lower="bob@example.org",
        username="bob",
        password="fifififi",
        display_name="bob",
    )


def test_device_names() -> None:
    assert domain.check_device_name(None) == ""
    assert domain.check_device_name("") == ""
    assert domain.check_device_name("Pixel 9") == "Pixel 9"
    for bad in ["x" * 65, "   ", "tab\there", "nul\x00"]:
        with pytest.raises(MessengerError) as error:
            domain.check_device_name(bad)
        assert field_of(error) == "device_name"


def test_email_tokens_are_url_safe_random_and_stored_hashed() -> None:
    token = domain.new_email_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert domain.new_email_token() != token
    assert domain.is_plausible_email_token(token)
    digest = domain.hash_token(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert token not in digest
    assert domain.hash_token(token) == digest
    for junk in ["", "a b", "x" * 129, "tøken", "a/b"]:
        assert not domain.is_plausible_email_token(junk)


def test_token_lifetimes() -> None:
    assert domain.TokenPurpose.VERIFY.ttl_ms == 24 * 3600 * 1000
    assert domain.TokenPurpose.RESET.ttl_ms == 3600 * 1000
    token = domain.EmailToken("h", "u", domain.TokenPurpose.RESET, 0, 1000, None)
    assert token.is_usable(999)
    assert not token.is_usable(1000)
    used = domain.EmailToken("h", "u", domain.TokenPurpose.RESET, 0, 1000, 5)
    assert not used.is_usable(10)


def test_mails_carry_their_links() -> None:
    verify = domain.verification_mail("a@b.co", "alice", "https://chat.example", "TOKEN")
    assert "https://chat.example/verify-email?token=TOKEN" in verify.body
    assert verify.recipient == "a@b.co"
    reset = domain.reset_mail("a@b.co", "alice", "https://chat.example", "TOKEN")
    assert "https://chat.example/reset-password?token=TOKEN" in reset.body


def test_throttle_keys_separate_kinds() -> None:
    assert domain.throttle_key("account", "x") != domain.throttle_key("address", "x")
    assert len(domain.throttle_key("address", "2001:db8::1")) == 64


def test_retry_after_counts_failures_within_the_window() -> None:
    window = 300_000
    now = 1_000_000
    assert domain.retry_after_seconds([], now, 5, window) is None
    assert domain.retry_after_seconds([now - 1000] * 4, now, 5, window) is None
    # Old failures have left the window and do not count.
    assert domain.retry_after_seconds([now - window - 1] * 10, now, 5, window) is None
    recent = [now - 10_000, now - 8_000, now - 6_000, now - 4_000, now - 2_000]
    assert domain.retry_after_seconds(recent, now, 5, window) == 290
    # With more failures than the limit, the wait lasts until enough of them age out.
    assert domain.retry_after_seconds([*recent, now - 1_000], now, 5, window) == 292
    assert domain.retry_after_seconds([now - window + 1] * 5, now, 5, window) == 1
