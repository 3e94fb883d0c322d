"""Delivers the `mail_outbox`: SMTP when configured, otherwise complete `.eml` files.

Mail rows are committed with the tokens they carry (their bodies sealed, see
`sealing.py`), so a crash loses no email: an undelivered row stays due and is sent (at
least once) by this or another instance. The body is erased once delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import smtplib
import tempfile
from dataclasses import replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from messenger.auth import store
from messenger.auth.sealing import MailSealer, UnreadableMailError
from messenger.auth.store import OutgoingMail
from messenger.platform.batches import drain_forever
from messenger.platform.clock import now_ms
from messenger.platform.db import read_transaction
from messenger.platform.logging import log
from messenger.platform.uow import UnitOfWorkFactory

SMTP_TIMEOUT_SECONDS = 30
_FIRST_RETRY_MS = 60_000
_MAX_RETRY_MS = 3600_000


def retry_delay_ms(attempts: int) -> int:
    """How long a claimed mail stays leased; also the back-off after a failed attempt."""
    return min(_MAX_RETRY_MS, _FIRST_RETRY_MS << min(attempts, 10))


def build_message(outgoing: OutgoingMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = outgoing.mail.recipient
    message["Subject"] = outgoing.mail.subject
    message["Date"] = formatdate(outgoing.created_at_ms / 1000, usegmt=True)
    message["Message-ID"] = make_msgid(idstring=outgoing.id, domain="messenger")
    # No quoted-printable: its soft line breaks would split the link (and its `=3D`
    # would hide the token) for anyone reading the .eml or grepping for the link.
    body = outgoing.mail.body
    message.set_content(body, cte="7bit" if body.isascii() else "8bit")
    return message


def write_eml(directory: Path, outgoing: OutgoingMail, message: EmailMessage) -> Path:
    """Atomically (temp file, then rename): a reader never sees half a mail. Names sort
    by time and carry the user id."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{outgoing.created_at_ms:013d}-{outgoing.user_id}-{outgoing.id}.eml"
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(message))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return target


def send_smtp(smtp_url: str, recipient: str, message: EmailMessage) -> None:
    """The envelope recipient is the stored address itself, never a parse of `To`."""
    parts = urlsplit(smtp_url)
    with smtplib.SMTP(
        parts.hostname or "localhost", parts.port or 25, timeout=SMTP_TIMEOUT_SECONDS
    ) as smtp:
        smtp.send_message(message, to_addrs=[recipient])


class Mailer:
    """Woken after a commit that queued mail; polls as a fallback and for retries."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        sealer: MailSealer,
        sender: str,
        smtp_url: str | None,
        mail_dir: Path,
        poll_seconds: float = 2.0,
        batch_size: int = 20,
    ) -> None:
        self._uow = uow_factory
        self._sealer = sealer
        self._sender = sender
        self._smtp_url = smtp_url
        self._mail_dir = mail_dir
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await drain_forever(
            self.deliver_due,
            batch_size=self._batch_size,
            wake=self._wake,
            poll_seconds=self._poll_seconds,
            name="mailer",
        )

    async def deliver_due(self) -> int:
        """Deliver one batch of due mail; returns how many rows it looked at."""
        async with read_transaction(self._uow.engine) as conn:
            due = await store.due_mail(conn, now_ms(), self._batch_size)
        for outgoing in due:
            await self._deliver_one(outgoing)
        return len(due)

    async def _deliver_one(self, outgoing: OutgoingMail) -> None:
        now = now_ms()
        async with self._uow() as uow:
            claimed = await store.claim_mail(
                uow.conn, outgoing.id, now, now + retry_delay_ms(outgoing.attempts)
            )
        if not claimed:
            return
        try:
            body = self._sealer.open(outgoing.id, outgoing.mail.body)
        except UnreadableMailError as exc:
            # Sealed under another key (the key file was lost or replaced): no instance
            # can ever send it, so it is dropped rather than retried for ever.
            log.error("undeliverable mail dropped", mail_id=outgoing.id, error=str(exc))
            async with self._uow() as uow:
                await store.mark_mail_sent(uow.conn, outgoing.id, now_ms())
            return
        opened = replace(outgoing, mail=replace(outgoing.mail, body=body))
        try:
            await asyncio.to_thread(self._deliver, opened)
        except Exception as exc:
            log.warning("mail delivery failed", mail_id=outgoing.id, error=repr(exc))
            return
        async with self._uow() as uow:
            await store.mark_mail_sent(uow.conn, outgoing.id, now_ms())
        log.info("mail delivered", mail_id=outgoing.id, user_id=outgoing.user_id)

    def _deliver(self, outgoing: OutgoingMail) -> None:
        message = build_message(outgoing, self._sender)
        if self._smtp_url:
            send_smtp(self._smtp_url, outgoing.mail.recipient, message)
        else:
            write_eml(self._mail_dir, outgoing, message)
