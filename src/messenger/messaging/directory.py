"""Who is in which conversation, kept in memory: a send then need not read the
conversation's row. Exact, not a guess: a conversation's members never change once it
exists, and unknown ids are never remembered (so guessing ids cannot fill the memory)."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.messaging import store
from messenger.messaging.domain import Members
from messenger.platform.db import read_transaction


class Directory:
    def __init__(self, engine: AsyncEngine, *, capacity: int = 100_000) -> None:
        self._engine = engine
        self._capacity = capacity
        self._known: OrderedDict[str, Members] = OrderedDict()

    async def members(self, conversation_id: str) -> Members | None:
        """The conversation's members; None when there is no such conversation."""
        found = self._known.get(conversation_id)
        if found is not None:
            self._known.move_to_end(conversation_id)
            return found
        async with read_transaction(self._engine) as conn:
            conversation = await store.get_conversation(conn, conversation_id)
        if conversation is None:
            return None
        self._known[conversation_id] = conversation.membership
        if len(self._known) > self._capacity:
            self._known.popitem(last=False)
        return conversation.membership
