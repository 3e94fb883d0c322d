"""Queued mail bodies are sealed under a key file that lives outside the database."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from messenger.auth.sealing import MailSealer, UnreadableMailError, mail_key_path

BODY = "open https://example.org/reset-password?token=abc_DEF-123 within the hour"


def test_a_sealed_body_opens_only_under_its_key_and_its_mail_id(tmp_path: Path) -> None:
    sealer = MailSealer.from_file(tmp_path / "mail.key")
    sealed = sealer.seal("mail-1", BODY)
    assert "abc_DEF-123" not in sealed
    assert sealed != sealer.seal("mail-1", BODY)
    assert sealer.open("mail-1", sealed) == BODY
    with pytest.raises(UnreadableMailError):
        sealer.open("mail-2", sealed)
    with pytest.raises(UnreadableMailError):
        MailSealer.from_file(tmp_path / "other.key").open("mail-1", sealed)
    with pytest.raises(UnreadableMailError):
        sealer.open("mail-1", sealed[:-6] + "AAAAAA")
    with pytest.raises(UnreadableMailError):
        sealer.open("mail-1", BODY)


def test_the_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = mail_key_path(tmp_path, None)
    assert path == tmp_path / "secrets" / "mail.key"
    with ThreadPoolExecutor(8) as pool:
        sealers = list(pool.map(lambda _: MailSealer.from_file(path), range(8)))
    sealed = sealers[0].seal("m", BODY)
    assert all(s.open("m", sealed) == BODY for s in sealers)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]
    assert mail_key_path(tmp_path, tmp_path / "k") == tmp_path / "k"


def test_a_malformed_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mail.key"
    path.write_text("too short\n")
    with pytest.raises(ValueError, match="mail key"):
        MailSealer.from_file(path)
