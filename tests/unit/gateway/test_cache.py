"""Caches fed by NATS events: never stale across a race, a reconnect or a dropped link."""

from __future__ import annotations

import asyncio

import pytest

from messenger.gateway.auth import Caller, SessionGuard, SessionState
from messenger.gateway.cache import EventFedCache
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.ids import new_id


class Link:
    def __init__(self) -> None:
        self.epoch: int | None = 0

    def __call__(self) -> int | None:
        return self.epoch


def test_fill_get_and_bound() -> None:
    cache: EventFedCache[str, int] = EventFedCache(Link(), max_entries=2)
    for key, value in (("a", 1), ("b", 2)):
        cache.fill(key, value, cache.ticket())
    assert cache.get("a") == 1
    cache.fill("c", 3, cache.ticket())
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_a_fill_that_raced_an_invalidation_is_discarded() -> None:
    cache: EventFedCache[str, int] = EventFedCache(Link(), max_entries=10)
    ticket = cache.ticket()
    cache.drop("a")
    cache.fill("a", 1, ticket)
    assert cache.get("a") is None


def test_reconnect_empties_and_a_down_link_bypasses() -> None:
    link = Link()
    cache: EventFedCache[str, int] = EventFedCache(link, max_entries=10)
    cache.fill("a", 1, cache.ticket())
    link.epoch = None
    assert cache.get("a") is None
    cache.fill("b", 2, cache.ticket())
    link.epoch = 1
    assert cache.get("a") is None
    assert cache.get("b") is None


async def test_a_revocation_beats_an_answer_already_in_flight() -> None:
    caller = Caller(new_id(), new_id())
    answered = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def validate(session_id: str) -> SessionState:
        nonlocal calls
        calls += 1
        answered.set()
        await release.wait()
        return SessionState(True, caller.user_id)

    guard = SessionGuard(validate, Link())
    first = asyncio.create_task(guard.check(caller))
    await answered.wait()
    guard.revoked(caller.session_id, caller.user_id)
    release.set()
    await first
    with pytest.raises(MessengerError) as caught:
        await guard.check(caller)
    assert caught.value.code is ErrorCode.SESSION_REVOKED
    assert calls == 1


async def test_live_sessions_are_asked_once_and_other_users_sessions_refused() -> None:
    owner = new_id()
    calls = 0

    async def validate(session_id: str) -> SessionState:
        nonlocal calls
        calls += 1
        return SessionState(True, owner)

    guard = SessionGuard(validate, Link())
    session_id = new_id()
    await guard.check(Caller(owner, session_id))
    await guard.check(Caller(owner, session_id))
    assert calls == 1
    with pytest.raises(MessengerError):
        await guard.check(Caller(new_id(), session_id))
