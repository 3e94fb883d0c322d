"""Batches: the loop shared by every worker that drains a table (the outbox relay, auth's
mailer), and the group commit that turns concurrent calls into one (`Coalescer`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from messenger.platform.logging import log

T = TypeVar("T")
R = TypeVar("R")


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


class Coalescer(Generic[T, R]):
    """Group commit: the items submitted while a batch is being handled form the next
    batch, handled by one call of `handle`. A lone item goes at once; under load the
    cost per item falls as batches grow, and no item waits for more than the batch
    ahead of it. (Two batches in flight were measured: smaller batches cost more CPU
    than the overlap saved.)

    `handle` returns one outcome per item, in order: a result, or the exception that
    item's caller gets. When `handle` itself raises, every item of the batch gets it.
    """

    def __init__(
        self,
        handle: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int,
        name: str,
    ) -> None:
        self._handle = handle
        self._max_batch = max_batch
        self._name = name
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """The item's outcome. A caller that gives up (its deadline) leaves the batch
        it is in to finish for the others."""
        return await asyncio.shield(self.put(item))

    def put(self, item: T) -> asyncio.Future[R]:
        """Queue the item without waiting; items put one after another are handled in
        that order."""
        outcome: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, outcome))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name=self._name)
        return outcome

    async def _drain(self) -> None:
        while self._queue:
            # One turn of the loop lets the calls already on their way join before the
            # batch closes.
            await asyncio.sleep(0)
            taken = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
            try:
                outcomes: Sequence[R | BaseException] = await self._handle(
                    [item for item, _ in taken]
                )
                if len(outcomes) != len(taken):
                    raise RuntimeError(
                        f"{self._name}: {len(outcomes)} outcomes, {len(taken)} items"
                    )
            except Exception as error:
                outcomes = [error] * len(taken)
            for (_, future), outcome in zip(taken, outcomes, strict=True):
                if not future.done():
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
