"""Group commit for sends (platform.batches.Coalescer): the sends that arrive while one
batch is being written form the next batch, which shares one friendship question to
contact-service and one write transaction (which also finds the retries among them).
A batch waits only one turn of the event loop, so a lone send is written at once, and
under load the cost per message falls as batches grow (a linger of 1 ms, which grew
batches when each POST was its own call, only adds latency now that the gateway sends
its concurrent POSTs as one call). The transaction is
synchronous code run in one trip to the database (`UnitOfWorkFactory.run`).

Each send still gets API.md's order of outcomes: a retry returns its original (or
CONFLICT), then NOT_FRIENDS, then the write. Two sends in one batch with the same
client_message_id behave as if the first committed before the second arrived.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from messenger.messaging import domain, events, store
from messenger.messaging.domain import Members, Message
from messenger.messaging.store import ClientKey
from messenger.platform.batches import Coalescer
from messenger.platform.clock import now_ms
from messenger.platform.errors import MessengerError
from messenger.platform.ids import new_id
from messenger.platform.logging import bind_request_id
from messenger.platform.uow import SyncUnitOfWork, UnitOfWorkFactory

MAX_BATCH = 256
_WRITE_ATTEMPTS = 3


class FriendshipQuestions(Protocol):
    async def friends_among(self, pairs: list[tuple[str, str]]) -> list[bool]: ...


@dataclass(frozen=True)
class Sent:
    message: Message
    created: bool


@dataclass(frozen=True)
class Outgoing:
    """A send whose membership and input are already checked."""

    members: Members
    sender_id: str
    text: str
    client_message_id: str
    request_id: str | None
    """The client call's, for the message's event."""

    @property
    def key(self) -> ClientKey:
        return (self.members.conversation_id, self.sender_id, self.client_message_id)


class Sender:
    """One per process; `send` may be called concurrently from any number of RPCs."""

    def __init__(self, uow_factory: UnitOfWorkFactory, friendships: FriendshipQuestions) -> None:
        self._uow = uow_factory
        self._friendships = friendships
        self._batches: Coalescer[Outgoing, Sent] = Coalescer(
            self._settle,
            max_batch=MAX_BATCH,
            name="messaging-sender",
        )

    async def send(self, outgoing: list[Outgoing]) -> list[Sent | BaseException]:
        """Each send's outcome, in order. They join the next batch in that order, so
        those in one conversation take their seqs in that order. A caller that gives up
        (its deadline) does not cancel the batch."""
        queued = [self._batches.put(send) for send in outgoing]
        return await asyncio.gather(*(asyncio.shield(q) for q in queued), return_exceptions=True)

    async def _settle(self, batch: list[Outgoing]) -> list[Sent | BaseException]:
        # The batch's own log lines carry the first send's request id.
        bind_request_id(batch[0].request_id)
        firsts: dict[ClientKey, Outgoing] = {}
        for send in batch:
            firsts.setdefault(send.key, send)
        pending = list(firsts.values())
        # Asked before knowing which sends are retries (those need no friendship):
        # so that no RPC runs inside the write transaction.
        friends = await self._friendships_of(pending)
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                originals, stored = await self._write(pending, friends)
                break
            except store.DuplicateKeyError:
                # Another instance stored one of these retries meanwhile: look again.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        outcomes: list[Sent | BaseException] = []
        for send in batch:
            if send is firsts[send.key] and send.key in stored:
                outcomes.append(Sent(stored[send.key], created=True))
            elif send.key in originals or send.key in stored:
                outcomes.append(_replay(send, originals.get(send.key) or stored[send.key]))
            else:
                outcomes.append(domain.not_friends())
        return outcomes

    async def _friendships_of(self, sends: list[Outgoing]) -> dict[tuple[str, str], bool]:
        pairs = sorted({(s.sender_id, s.members.other(s.sender_id)) for s in sends})
        return dict(zip(pairs, await self._friendships.friends_among(pairs), strict=True))

    async def _write(
        self, sends: list[Outgoing], friends: dict[tuple[str, str], bool]
    ) -> tuple[dict[ClientKey, Message], dict[ClientKey, Message]]:
        return await self._uow.run(lambda uow: _write(uow, sends, friends))


def _write(
    uow: SyncUnitOfWork, sends: list[Outgoing], friends: dict[tuple[str, str], bool]
) -> tuple[dict[ClientKey, Message], dict[ClientKey, Message]]:
    """One transaction: find the retries among `sends`, then store the others whose
    sender may still write. Returns (originals of the retries, stored messages)."""
    stored: dict[ClientKey, Message] = {}
    originals = store.find_by_client_ids(uow.conn, [s.key for s in sends])
    fresh = [
        s
        for s in sends
        if s.key not in originals and friends[(s.sender_id, s.members.other(s.sender_id))]
    ]
    if not fresh:
        return originals, stored
    counts: dict[str, int] = {}
    for send in fresh:
        conversation_id = send.members.conversation_id
        counts[conversation_id] = counts.get(conversation_id, 0) + 1
    allocated = store.allocate_seqs(uow.conn, counts, now_ms())
    next_seq = {cid: last - counts[cid] + 1 for cid, (last, _) in allocated.items()}
    for send in fresh:
        conversation_id = send.members.conversation_id
        message = Message(
            id=new_id(),
            conversation_id=conversation_id,
            seq=next_seq[conversation_id],
            sender_id=send.sender_id,
            text=send.text,
            sent_at_ms=allocated[conversation_id][1],
            client_message_id=send.client_message_id,
        )
        next_seq[conversation_id] += 1
        stored[send.key] = message
        uow.emit(
            events.MESSAGE_SENT,
            events.message_sent(send.members, message),
            request_id=send.request_id,
        )
    store.add_messages(uow.conn, list(stored.values()))
    # Sending implies having read everything before it (API.md).
    latest = {(m.conversation_id, m.sender_id): m.seq for m in stored.values()}
    store.advance_read_positions(uow.conn, [(c, u, q) for (c, u), q in latest.items()])
    return originals, stored


def _replay(send: Outgoing, original: Message) -> Sent | MessengerError:
    try:
        return Sent(domain.replayed(original, send.text), created=False)
    except MessengerError as error:
        return error
