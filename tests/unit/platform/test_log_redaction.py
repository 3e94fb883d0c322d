"""No token reaches a log line, however it is written (platform/logging.py)."""

from __future__ import annotations

import pytest

from messenger.platform.logging import redact_tokens

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl-_x"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f'127.0.0.1:5 - "WebSocket /v1/ws?access_token={JWT}" [accepted]', "access_token="),
        (f"/v1/ws?access_toke%6E={JWT}&x=1", "&x=1"),
        (f"/v1/ws?ACCESS_TOKEN={JWT}", "ACCESS_TOKEN="),
        ("/verify-email?token=Zm9vYmFyYmF6cXV4", "/verify-email?token="),
        ("/reset-password?token=Zm9vYmFyYmF6cXV4#x", "#x"),
        (f"< authorization: Bearer {JWT}", "authorization: Bearer "),
        ("< authorization: bearer opaque-token-value", "bearer "),
        (f"token inside a sentence: {JWT}.", "token inside a sentence: "),
    ],
)
def test_tokens_are_redacted(line: str, kept: str) -> None:
    redacted = redact_tokens(None, "info", {"event": line, "path": line})
    for value in (redacted["event"], redacted["path"]):
        assert "[redacted]" in value
        assert kept in value
        assert JWT not in value
        assert "Zm9vYmFyYmF6cXV4" not in value
        assert "opaque-token-value" not in value


def test_other_text_is_left_alone() -> None:
    line = "rpc method=/messenger.messaging.v1.MessagingService/SendMessage ms=1.2"
    assert redact_tokens(None, "info", {"event": line, "n": 3}) == {"event": line, "n": 3}
