"""The loop shared by every worker that drains a table in batches (the outbox relay,
auth's mailer): woken right after a commit, polling as a fallback for rows written by
another instance or left by a crash."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from messenger.platform.logging import log


async def drain_forever(
    batch: Callable[[], Awaitable[int]],
    *,
    batch_size: int,
    wake: asyncio.Event,
    poll_seconds: float,
    name: str,
) -> None:
    """Run `batch` (returns how many rows it handled) back to back while batches come
    back full, then wait for `wake` or `poll_seconds`. A failing batch is logged and
    tried again after the wait; it never ends the loop."""
    while True:
        wake.clear()
        try:
            handled = await batch()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch failed; retrying", worker=name)
            handled = 0
        if handled >= batch_size:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), poll_seconds)
