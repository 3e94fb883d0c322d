"""Coalescer: concurrent calls become batches, and every caller gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from messenger.platform.batches import Coalescer


class Recorder:
    """A handler that keeps the batches it was given; negative items fail alone."""

    def __init__(self, pause: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.pause = pause
        self.running = 0
        self.most_running = 0

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(items)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.pause)
        finally:
            self.running -= 1
        return [ValueError(item) if item < 0 else item * 10 for item in items]


async def test_calls_made_together_share_a_batch_in_order() -> None:
    handle = Recorder()
    batches = Coalescer(handle, max_batch=100, name="test")
    results = await asyncio.gather(*(batches.submit(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert handle.batches == [[0, 1, 2, 3, 4]]


async def test_calls_arriving_during_a_batch_form_the_next_one() -> None:
    handle = Recorder(pause=0.05)
    batches = Coalescer(handle, max_batch=100, name="test")
    first = asyncio.ensure_future(batches.submit(1))
    await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(batches.submit(i)) for i in (2, 3, 4)]
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40]
    assert handle.batches == [[1], [2, 3, 4]]
    assert handle.most_running == 1


async def test_batches_are_bounded() -> None:
    handle = Recorder()
    batches = Coalescer(handle, max_batch=3, name="test")
    await asyncio.gather(*(batches.submit(i) for i in range(7)))
    assert handle.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_each_caller_gets_its_own_failure() -> None:
    batches = Coalescer(Recorder(), max_batch=100, name="test")
    outcomes = await asyncio.gather(
        *(batches.submit(i) for i in (1, -2, 3)), return_exceptions=True
    )
    assert outcomes[0] == 10
    assert outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError)


async def test_a_failing_handler_fails_its_whole_batch_and_nothing_else() -> None:
    calls = 0

    async def handle(items: list[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return [*items]

    batches = Coalescer(handle, max_batch=100, name="test")
    failed = await asyncio.gather(batches.submit(1), batches.submit(2), return_exceptions=True)
    assert all(isinstance(f, ConnectionError) for f in failed)
    assert await batches.submit(3) == 3


async def test_a_handler_answering_the_wrong_number_fails_the_batch() -> None:
    async def handle(items: list[int]) -> list[int | BaseException]:
        return [*items[1:]]

    batches = Coalescer(handle, max_batch=100, name="test")
    with pytest.raises(RuntimeError, match="outcomes"):
        await asyncio.gather(batches.submit(1), batches.submit(2))


async def test_a_caller_giving_up_does_not_cancel_the_batch() -> None:
    handle = Recorder(pause=0.05)
    batches = Coalescer(handle, max_batch=100, name="test")
    patient = asyncio.ensure_future(batches.submit(2))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await batches.submit(1)
    assert await patient == 20
    assert handle.batches == [[1, 2]]


async def test_put_queues_in_order_without_waiting() -> None:
    handle = Recorder()
    batches = Coalescer(handle, max_batch=100, name="test")
    queued = [batches.put(i) for i in (5, 6, 7)]
    assert not any(q.done() for q in queued)
    assert await asyncio.gather(*queued) == [50, 60, 70]
    assert handle.batches == [[5, 6, 7]]
