"""`messenger migrate` (platform/migrations.py) on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from messenger.platform.migrations import upgrade

pytestmark = pytest.mark.backend_neutral


async def test_a_migrated_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    """Services that open the file together could not all switch it to WAL ("database
    is locked" at once, without waiting), so the migration does it first."""
    path = tmp_path / "contact.db"
    await upgrade("contact", make_url(f"sqlite+aiosqlite:///{path}"))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
