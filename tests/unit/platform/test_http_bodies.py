"""Strict JSON bodies: API.md's 400 / 422 rules for what is not JSON or holds bad strings."""

from __future__ import annotations

import pytest

from messenger.platform.clock import to_rfc3339
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.http import parse_json, reject_bad_strings


@pytest.mark.parametrize(
    "body", [b"", b"{", b"\xff\xfe", b"NaN", b'{"a": Infinity}', b"{'a': 1}", b"[" * 100_000]
)
def test_what_is_not_json_is_invalid_request(body: bytes) -> None:
    with pytest.raises(MessengerError) as caught:
        parse_json(body)
    assert caught.value.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", {"k": ["ok", "\udfff"]}, {"\x00": 1}])
def test_nul_and_lone_surrogates_are_validation_errors(value: object) -> None:
    with pytest.raises(MessengerError) as caught:
        reject_bad_strings(value)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED


def test_escaped_lone_surrogate_parses_then_is_rejected() -> None:
    value = parse_json(b'{"text": "\\ud83d"}')
    with pytest.raises(MessengerError):
        reject_bad_strings(value)


def test_ordinary_unicode_passes() -> None:
    reject_bad_strings({"text": "שלום 👋 é\u0301\n", "n": [1, 2.5, None, True]})


def test_timestamps_are_rfc3339_utc_with_milliseconds() -> None:
    assert to_rfc3339(1_796_300_000_123) == "2026-12-03T12:13:20.123Z"
    assert to_rfc3339(0) == "1970-01-01T00:00:00.000Z"


def test_an_integer_of_thousands_of_digits_is_unreadable_and_says_so() -> None:
    assert parse_json(b'{"seq": -123456789012345678901234567890}')["seq"] < 0
    with pytest.raises(MessengerError) as raised:
        parse_json(b'{"seq": ' + b"9" * 5000 + b"}")
    assert raised.value.code is ErrorCode.INVALID_REQUEST
    assert "digits" in raised.value.message
