"""Time as integer milliseconds since the epoch: exact on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_rfc3339(ms: int) -> str:
    """API.md's timestamp form: RFC 3339, UTC, milliseconds (`2026-12-03T12:00:00.123Z`)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
