"""Profile rules of API.md, without I/O."""

from __future__ import annotations

import pytest

from messenger.platform.errors import ErrorCode, MessengerError
from messenger.profile import domain


def base() -> domain.Profile:
    return domain.new_profile("a" * 32, "Zed_9", None, 1000)


def test_new_profile_defaults() -> None:
    profile = base()
    assert (profile.username, profile.display_name, profile.version) == ("zed_9", "zed_9", 1)
    assert domain.new_profile("a" * 32, "zed", "Zed Z", 1).display_name == "Zed Z"


def test_etag_is_strong_and_changes_with_version() -> None:
    assert domain.etag_for("a" * 32, 1) == base().etag
    assert domain.etag_for("a" * 32, 1) != domain.etag_for("a" * 32, 2)
    assert domain.etag_for("a" * 32, 1) != domain.etag_for("b" * 32, 1)
    assert not base().etag.startswith("W/")


def test_conditional_headers() -> None:
    etag = base().etag
    assert domain.none_match_hits(f'"x", W/{etag}', etag)
    assert domain.none_match_hits("*", etag)
    assert not domain.none_match_hits(None, etag)
    assert not domain.none_match_hits('"x"', etag)
    assert domain.match_hits(f'"x", {etag}', etag)
    assert not domain.match_hits(f"W/{etag}", etag)
    assert domain.match_hits("*", etag)


@pytest.mark.parametrize(
    "changes",
    [
        {"display_name": None},
        {"display_name": ""},
        {"display_name": "\u2003"},
        {"display_name": "é" * 65},
        {"bio": "x" * 501},
        {"bio": 3},
        {"avatar_url": "ftp://host/x"},
        {"avatar_url": "https:///path"},
        {"avatar_url": "https://host/a b"},
        {"avatar_url": "https://host:99999/"},
    ],
)
def test_invalid_changes(changes: dict[str, object]) -> None:
    with pytest.raises(MessengerError) as caught:
        domain.validate_changes(changes)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED


def test_valid_changes_count_code_points_and_ignore_unknown_fields() -> None:
    changes = domain.validate_changes(
        {"display_name": "😀" * 64, "bio": None, "avatar_url": "https://h.example/a.png", "x": 1}
    )
    assert changes == {
        "display_name": "😀" * 64,
        "bio": None,
        "avatar_url": "https://h.example/a.png",
    }


def test_apply_changes_bumps_version_only_on_a_change() -> None:
    profile = base()
    assert domain.apply_changes(profile, {"bio": None}, 2000) is None
    updated = domain.apply_changes(profile, {"bio": "hello"}, 2000)
    assert updated is not None
    assert (updated.bio, updated.version, updated.updated_at_ms) == ("hello", 2, 2000)


def test_email_verified_once() -> None:
    verified = domain.mark_email_verified(base(), 5)
    assert verified is not None
    assert verified.email_verified
    assert verified.version == 2
    assert domain.mark_email_verified(verified, 6) is None
