"""Frames of one conversation in `seq` order, whichever way each one came.

Every gateway instance routes a share of the events (one queue group), so the frame of
message 7 may come from this instance's own router while that of message 6 is still on
its way through NATS from another instance's. Without reordering, sockets on different
instances would see one conversation in different orders, and a client that resumes
with `after=<last seq it saw>` would skip the message still on its way.

A frame that arrives with a gap before it waits for the missing ones at most
`HOLD_SECONDS`; then everything held goes out in order (a frame can be lost with an
instance that dies, and the client catches up by `seq`). The first frame of a
conversation here cannot know whether the one before it is on its way or was sent
before these sockets were there: it waits `FIRST_HOLD_SECONDS` (a NATS hop takes a
millisecond or two), unless it is the conversation's first message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

HOLD_SECONDS = 0.25
FIRST_HOLD_SECONDS = 0.05


class InOrder:
    """The frames of one user's sockets on this instance, reordered per conversation.
    Frames of no conversation order (friendships, read positions) wait behind any held
    message frame, so that none overtakes a message sent before it.

    A user's link makes one at their first message frame: an idle socket pays for none."""

    __slots__ = ("_after", "_emit", "_held", "_last", "_timers")

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._last: dict[str, int] = {}
        self._held: dict[str, dict[int, str]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._after: list[str] = []

    def push(self, frame: str, order: tuple[str, int] | None) -> None:
        """`order` is (conversation_id, seq) for a `message.sent` frame."""
        if order is None:
            if self._held:
                self._after.append(frame)
            else:
                self._emit(frame)
            return
        conversation_id, seq = order
        last = self._last.get(conversation_id)
        if last is None and seq > 1:
            self._hold(conversation_id, seq, frame, FIRST_HOLD_SECONDS)
        elif last is not None and seq > last + 1:
            self._hold(conversation_id, seq, frame, HOLD_SECONDS)
        else:
            self._emit(frame)
            if last is None or seq > last:
                self._last[conversation_id] = seq
                self._release_run(conversation_id)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._held.clear()
        self._after.clear()

    def _hold(self, conversation_id: str, seq: int, frame: str, seconds: float) -> None:
        self._held.setdefault(conversation_id, {})[seq] = frame
        if conversation_id not in self._timers:
            self._wait(conversation_id, seconds)

    def _wait(self, conversation_id: str, seconds: float) -> None:
        previous = self._timers.pop(conversation_id, None)
        if previous is not None:
            previous.cancel()
        self._timers[conversation_id] = asyncio.get_running_loop().call_later(
            seconds, self._give_up_waiting, conversation_id
        )

    def _release_run(self, conversation_id: str) -> None:
        """Send the held frames that now follow without a gap; those behind a further
        gap wait for it anew."""
        held = self._held.get(conversation_id)
        if not held:
            return
        following = self._last[conversation_id] + 1
        released = False
        while following in held:
            self._emit(held.pop(following))
            self._last[conversation_id] = following
            following += 1
            released = True
        if not held:
            self._forget(conversation_id)
        elif released:
            self._wait(conversation_id, HOLD_SECONDS)

    def _give_up_waiting(self, conversation_id: str) -> None:
        """The frames before the first held one are not coming: go on from there."""
        self._timers.pop(conversation_id, None)
        held = self._held.get(conversation_id)
        if not held:
            return
        self._last[conversation_id] = min(held) - 1
        self._release_run(conversation_id)

    def _forget(self, conversation_id: str) -> None:
        self._held.pop(conversation_id, None)
        timer = self._timers.pop(conversation_id, None)
        if timer is not None:
            timer.cancel()
        if not self._held and self._after:
            after, self._after = self._after, []
            for frame in after:
                self._emit(frame)
