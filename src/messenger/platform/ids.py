"""Opaque identifiers: 32 lower-case hex digits of a random UUID."""

from __future__ import annotations

import re
import uuid

_ID = re.compile(r"[0-9a-f]{32}")


def new_id() -> str:
    return uuid.uuid4().hex


def is_valid_id(value: str) -> bool:
    """Checked at the edge so that a malformed id is a plain 404 and never reaches SQL."""
    return _ID.fullmatch(value) is not None
