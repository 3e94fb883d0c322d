"""A bounded in-memory cache kept fresh by NATS events.

An entry is only as good as the event stream that invalidates it: while the NATS link is
down the cache is neither read nor filled, and every reconnect empties it, because
events published during the gap were missed. A fill that raced with an invalidation is
discarded, so an in-flight read can never resurrect what an event has just dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from messenger.gateway.clients import ProfileClient, ProfileDoc

K = TypeVar("K")
V = TypeVar("V")

LinkEpoch = Callable[[], int | None]
"""The number of reconnects of the NATS link so far, or None while it is down."""


@dataclass(frozen=True)
class Ticket:
    epoch: int | None
    generation: int


class EventFedCache(Generic[K, V]):
    def __init__(self, link_epoch: LinkEpoch, max_entries: int) -> None:
        self._link_epoch = link_epoch
        self._max_entries = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._epoch: int | None = None
        self._generation = 0

    def _trusted_epoch(self) -> int | None:
        epoch = self._link_epoch()
        if epoch != self._epoch:
            self._entries.clear()
            self._epoch = epoch
        return epoch

    def get(self, key: K) -> V | None:
        if self._trusted_epoch() is None:
            return None
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def ticket(self) -> Ticket:
        """Taken before reading the source of truth; `fill` honours it only if nothing
        was invalidated and the link did not drop in between."""
        return Ticket(self._trusted_epoch(), self._generation)

    def fill(self, key: K, value: V, ticket: Ticket) -> None:
        epoch = self._trusted_epoch()
        if epoch is None or ticket != Ticket(epoch, self._generation):
            return
        self._store(key, value)

    def drop(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def put(self, key: K, value: V) -> None:
        """An authoritative value from an event (e.g. a revocation), stored unconditionally."""
        self._generation += 1
        self._trusted_epoch()
        self._store(key, value)

    def _store(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class ProfileCache:
    """user_id -> profile and ETag, dropped by `profile.updated` and by our own PATCH."""

    def __init__(self, client: ProfileClient, link_epoch: LinkEpoch, max_entries: int) -> None:
        self._client = client
        self._cache: EventFedCache[str, ProfileDoc] = EventFedCache(link_epoch, max_entries)

    async def get(self, user_id: str) -> ProfileDoc:
        doc = self._cache.get(user_id)
        if doc is None:
            ticket = self._cache.ticket()
            doc = await self._client.get(user_id)
            self._cache.fill(user_id, doc, ticket)
        return doc

    def drop(self, user_id: str) -> None:
        self._cache.drop(user_id)
