"""Group commit for SendMessage: the sends that arrive while one batch is being written
form the next batch, which shares one replay lookup, one friendship question to
contact-service and one write transaction. Nothing waits on a timer: a lone send is
written at once, and under load the cost per message falls as batches grow.

Each send still gets API.md's order of outcomes: a retry returns its original (or
CONFLICT), then NOT_FRIENDS, then the write. Two sends in one batch with the same
client_message_id behave as if the first committed before the second arrived.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from messenger.messaging import domain, events, store
from messenger.messaging.domain import Members, Message
from messenger.messaging.store import ClientKey
from messenger.platform.clock import now_ms
from messenger.platform.db import read_transaction
from messenger.platform.errors import MessengerError
from messenger.platform.ids import new_id
from messenger.platform.logging import bind_request_id, current_request_id
from messenger.platform.uow import UnitOfWorkFactory

MAX_BATCH = 256
_WRITE_ATTEMPTS = 3


class FriendshipQuestions(Protocol):
    async def friends_among(self, pairs: list[tuple[str, str]]) -> list[bool]: ...


@dataclass(frozen=True)
class Sent:
    message: Message
    created: bool


@dataclass
class _Send:
    members: Members
    sender_id: str
    text: str
    client_message_id: str
    request_id: str | None
    outcome: asyncio.Future[Sent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> ClientKey:
        return (self.members.conversation_id, self.sender_id, self.client_message_id)

    def succeed(self, sent: Sent) -> None:
        if not self.outcome.done():
            self.outcome.set_result(sent)

    def fail(self, error: BaseException) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(error)


class Sender:
    """One per process; `send` may be called concurrently from any number of RPCs."""

    def __init__(self, uow_factory: UnitOfWorkFactory, friendships: FriendshipQuestions) -> None:
        self._uow = uow_factory
        self._friendships = friendships
        self._queue: deque[_Send] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def send(
        self, members: Members, sender_id: str, text: str, client_message_id: str
    ) -> Sent:
        """Store the message (membership and input already checked by the caller)."""
        send = _Send(members, sender_id, text, client_message_id, current_request_id())
        self._queue.append(send)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="messaging-sender")
        # A caller that gives up (deadline) does not cancel the batch it is in.
        return await asyncio.shield(send.outcome)

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
            # The batch's log lines carry the first send's request id.
            bind_request_id(batch[0].request_id)
            try:
                await self._settle(batch)
            except Exception as error:
                for send in batch:
                    send.fail(error)

    async def _settle(self, batch: list[_Send]) -> None:
        firsts: dict[ClientKey, _Send] = {}
        repeats: list[_Send] = []
        for send in batch:
            if send.key in firsts:
                repeats.append(send)
            else:
                firsts[send.key] = send
        known: dict[ClientKey, Message] = {}
        pending = list(firsts.values())
        for attempt in range(_WRITE_ATTEMPTS):
            pending = await self._without_replays(pending, known)
            pending = await self._only_friends(pending)
            try:
                await self._write(pending, known)
                break
            except store.DuplicateKeyError:
                # Another instance stored one of these retries meanwhile: look again.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        for send in repeats:
            original = known.get(send.key)
            if original is not None:
                _replay(send, original)
                continue
            # The first with this key failed (not friends), so this one fails alike.
            error = firsts[send.key].outcome.exception()
            assert error is not None
            send.fail(error)

    async def _without_replays(
        self, sends: list[_Send], known: dict[ClientKey, Message]
    ) -> list[_Send]:
        async with read_transaction(self._uow.engine) as conn:
            originals = await store.find_by_client_ids(conn, [s.key for s in sends])
        known.update(originals)
        fresh = []
        for send in sends:
            original = originals.get(send.key)
            if original is None:
                fresh.append(send)
            else:
                _replay(send, original)
        return fresh

    async def _only_friends(self, sends: list[_Send]) -> list[_Send]:
        if not sends:
            return []
        pairs = sorted({(s.sender_id, s.members.other(s.sender_id)) for s in sends})
        answers = dict(zip(pairs, await self._friendships.friends_among(pairs), strict=True))
        allowed = []
        for send in sends:
            if answers[(send.sender_id, send.members.other(send.sender_id))]:
                allowed.append(send)
            else:
                send.fail(domain.not_friends())
        return allowed

    async def _write(self, sends: list[_Send], known: dict[ClientKey, Message]) -> None:
        if not sends:
            return
        counts: dict[str, int] = {}
        for send in sends:
            conversation_id = send.members.conversation_id
            counts[conversation_id] = counts.get(conversation_id, 0) + 1
        stored: list[tuple[_Send, Message]] = []
        async with self._uow() as uow:
            allocated = await store.allocate_seqs(uow.conn, counts, now_ms())
            next_seq = {cid: last - counts[cid] + 1 for cid, (last, _) in allocated.items()}
            for send in sends:
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
                stored.append((send, message))
                uow.emit(events.MESSAGE_SENT, events.message_sent(send.members, message))
            await store.add_messages(uow.conn, [m for _, m in stored])
            # Sending implies having read everything before it (API.md).
            latest = {(m.conversation_id, m.sender_id): m.seq for _, m in stored}
            await store.advance_read_positions(
                uow.conn, [(c, u, q) for (c, u), q in latest.items()]
            )
        for send, message in stored:
            known[send.key] = message
            send.succeed(Sent(message, created=True))


def _replay(send: _Send, original: Message) -> None:
    try:
        send.succeed(Sent(domain.replayed(original, send.text), created=False))
    except MessengerError as error:
        send.fail(error)
