"""Encryption of queued email bodies.

A verification or reset mail carries its token in clear until it is delivered, and it
waits in the `mail_outbox` table until then (so a crash loses no mail). Its body is
therefore stored sealed with AES-256-GCM under a key that lives outside the database (a
file, `<data_dir>/secrets/mail.key` unless `MESSENGER_MAIL_KEY_FILE` names another), and
bound to the mail's id: a stolen database yields no usable email token, and a sealed body
cannot be moved to another row.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
PREFIX = "aesgcm1:"


class UnreadableMailError(ValueError):
    """A sealed body that this key cannot open (another key, or tampered with)."""


class MailSealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a mail key has {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> MailSealer:
        """Read the key; the first instance to start creates it (atomically: of two
        instances starting together, both end up with the same key)."""
        if not path.exists():
            _create_key_file(path)
        text = path.read_text().strip()
        try:
            key = base64.urlsafe_b64decode(text.encode())
        except (binascii.Error, ValueError):
            raise ValueError(f"{path} does not hold a base64url mail key") from None
        return cls(key)

    def seal(self, mail_id: str, body: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, body.encode(), mail_id.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, mail_id: str, stored: str) -> str:
        if not stored.startswith(PREFIX):
            raise UnreadableMailError("the mail body is not sealed")
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode())
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], mail_id.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise UnreadableMailError("the mail body cannot be opened with this key") from None
        return plain.decode()


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    temp = path.parent / f".{path.name}.{secrets.token_hex(8)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)


def mail_key_path(data_dir: Path, configured: Path | None) -> Path:
    return configured if configured is not None else data_dir / "secrets" / "mail.key"
