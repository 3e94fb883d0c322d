"""Query parsing and body shapes of API.md."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from messenger.gateway.schemas import (
    INT64_MAX,
    Paging,
    ProfilePatchBody,
    SeenBody,
    SendMessageBody,
    parse_paging,
)
from messenger.platform.errors import ErrorCode, MessengerError


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, Paging(None, None, 50)),
        ({"after": "", "before": "", "limit": ""}, Paging(None, None, 50)),
        ({"after": "0", "before": "7", "limit": "1"}, Paging(0, 7, 1)),
        ({"limit": "1000"}, Paging(None, None, 100)),
        ({"before": str(INT64_MAX)}, Paging(None, INT64_MAX, 50)),
    ],
)
def test_paging(query: dict[str, str], expected: Paging) -> None:
    assert parse_paging(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"after": "-1"},
        {"before": "1.5"},
        {"limit": "ten"},
        {"after": "٣"},
        {"limit": "9" * 23},
        {"after": str(INT64_MAX + 1)},
    ],
)
def test_bad_paging_is_422(query: dict[str, str]) -> None:
    with pytest.raises(MessengerError) as caught:
        parse_paging(query)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED


@pytest.mark.parametrize(
    "body",
    [
        {"text": "", "client_message_id": "a"},
        {"text": " \n", "client_message_id": "a"},
        {"text": "x" * 4097, "client_message_id": "a"},
        {"text": "hi", "client_message_id": "a b"},
        {"text": "hi", "client_message_id": "a" * 65},
        {"text": 5, "client_message_id": "a"},
        {"text": "hi"},
    ],
)
def test_bad_messages(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SendMessageBody.model_validate(body)


def test_messages_count_code_points_and_keep_text_as_sent() -> None:
    body = SendMessageBody.model_validate(
        {"text": " 😀" * 2048, "client_message_id": "A-z_0", "extra": 1}
    )
    assert body.text == " 😀" * 2048


@pytest.mark.parametrize("seq", [-1, 1.0, True, "1", 2**63])
def test_seen_seq_must_be_a_whole_number(seq: object) -> None:
    with pytest.raises(ValidationError):
        SeenBody.model_validate({"seq": seq})


def test_profile_patch_keeps_only_the_fields_sent() -> None:
    assert ProfilePatchBody.model_validate({"bio": None, "x": 1}).changes() == {"bio": None}
    with pytest.raises(ValidationError):
        ProfilePatchBody.model_validate({"display_name": 3})
