"""messaging-service use-cases: membership first, then input, then replay, then
friendship, then the write (API.md's order of errors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from messenger.messaging import domain, events, store
from messenger.messaging.directory import Directory
from messenger.messaging.domain import Conversation, ConversationView, Members, Message
from messenger.messaging.sending import Outgoing, Sender, Sent
from messenger.platform.clock import now_ms
from messenger.platform.db import read_transaction
from messenger.platform.errors import MessengerError
from messenger.platform.ids import new_id
from messenger.platform.logging import current_request_id
from messenger.platform.uow import UnitOfWorkFactory


class Friendships(Protocol):
    """The contact-service questions messaging asks (see contact_client.py)."""

    async def are_friends(self, user_id: str, other_id: str) -> bool: ...

    async def friends_of(self, user_id: str) -> set[str]: ...

    async def friends_among(self, pairs: list[tuple[str, str]]) -> list[bool]: ...


@dataclass(frozen=True)
class Opened:
    view: ConversationView
    created: bool


@dataclass(frozen=True)
class Seen:
    conversation_id: str
    last_seen_seq: int
    unread_count: int


async def open_direct_conversation(
    uow_factory: UnitOfWorkFactory, friendships: Friendships, user_id: str, other_id: str
) -> Opened:
    """The pair's one conversation, created on first use; two openers racing both get
    the same one (the unique pair decides, the loser's insert does nothing)."""
    domain.require_other_user(user_id, other_id)
    domain.require_friends(await friendships.are_friends(user_id, other_id))
    async with read_transaction(uow_factory.engine) as conn:
        existing = await store.get_direct_conversation(conn, user_id, other_id)
    if existing is not None:
        return Opened(await _view(uow_factory, existing, user_id, can_send=True), created=False)
    async with uow_factory() as uow:
        fresh = domain.new_direct_conversation(new_id(), user_id, other_id, now_ms())
        created = await store.add_conversation(uow.conn, fresh)
        conversation = await store.get_direct_conversation(uow.conn, user_id, other_id)
    if conversation is None:
        raise RuntimeError("direct conversation vanished right after its insert")
    return Opened(await _view(uow_factory, conversation, user_id, can_send=True), created)


@dataclass(frozen=True)
class SendRequest:
    user_id: str
    conversation_id: str
    text: str
    client_message_id: str
    request_id: str | None = None
    """The client call's (default: the current one), carried by the message's event."""


async def send_messages(
    directory: Directory, sender: Sender, requests: list[SendRequest]
) -> list[Sent | BaseException]:
    """Store each message with the next seq of its conversation, in the order given; a
    retry with the same client_message_id returns the original (or CONFLICT when its
    text differs) and stores nothing. Each request gets the outcome it would have had
    alone: membership first, then input, then replay, then friendship (sending.py
    writes concurrent sends together)."""
    members = {
        conversation_id: await directory.members(conversation_id)
        for conversation_id in dict.fromkeys(r.conversation_id for r in requests)
    }
    outcomes: list[Sent | BaseException | None] = [None] * len(requests)
    checked: list[tuple[int, Outgoing]] = []
    for index, request in enumerate(requests):
        try:
            checked.append((index, _outgoing(members[request.conversation_id], request)))
        except MessengerError as error:
            outcomes[index] = error
    sent = await sender.send([outgoing for _, outgoing in checked])
    for (index, _), outcome in zip(checked, sent, strict=True):
        outcomes[index] = outcome
    return [o for o in outcomes if o is not None]


async def send_message(directory: Directory, sender: Sender, request: SendRequest) -> Sent:
    (outcome,) = await send_messages(directory, sender, [request])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _outgoing(members: Members | None, request: SendRequest) -> Outgoing:
    checked = domain.require_member(members, request.user_id)
    domain.validate_text(request.text)
    domain.validate_client_message_id(request.client_message_id)
    return Outgoing(
        checked,
        request.user_id,
        request.text,
        request.client_message_id,
        request.request_id or current_request_id(),
    )


async def get_messages(
    uow_factory: UnitOfWorkFactory,
    user_id: str,
    conversation_id: str,
    *,
    after: int | None,
    before: int | None,
    limit: int | None,
) -> tuple[list[Message], bool]:
    """One page in ascending seq, and whether more exist in the direction paged."""
    async with read_transaction(uow_factory.engine) as conn:
        conversation = domain.require_member(
            await store.get_conversation(conn, conversation_id), user_id
        )
        request = domain.page_request(after, before, limit)
        fetched = await store.messages_page(
            conn,
            conversation.id,
            after=request.after,
            before=request.before,
            ascending=request.ascending,
            count=request.limit + 1,
        )
    return domain.page(request, fetched)


async def mark_seen(
    uow_factory: UnitOfWorkFactory, user_id: str, conversation_id: str, seq: int
) -> Seen:
    """Move the reader's position forward (clamped to the newest message); `message.seen`
    goes out only when it moved."""
    async with uow_factory() as uow:
        conversation = domain.require_member(
            await store.get_conversation(uow.conn, conversation_id), user_id
        )
        current = await store.read_position(uow.conn, conversation.id, user_id)
        target = domain.seen_target(seq, conversation.last_seq, current)
        if target is not None and await store.advance_read_position(
            uow.conn, conversation.id, user_id, target
        ):
            uow.emit(
                events.MESSAGE_SEEN, events.message_seen(conversation.membership, user_id, target)
            )
        position = await store.read_position(uow.conn, conversation.id, user_id)
        unread = await store.unread_count(uow.conn, conversation.id, user_id)
    return Seen(conversation.id, position, unread)


async def list_conversations(
    uow_factory: UnitOfWorkFactory, friendships: Friendships, user_id: str
) -> list[ConversationView]:
    """Every conversation of the user, former friends' included (read-only: can_send is
    false, taken from contact-service at this moment)."""
    async with read_transaction(uow_factory.engine) as conn:
        states = await store.conversations_of(conn, user_id)
        last = await store.last_messages(conn, [s.conversation.id for s in states])
        unread = await store.unread_counts(conn, user_id)
    friends = await friendships.friends_of(user_id) if states else set()
    views = []
    for s in states:
        can_send = s.conversation.other(user_id) in friends
        views.append(
            ConversationView(
                conversation=s.conversation,
                last_message=last.get(s.conversation.id),
                unread_count=unread.get(s.conversation.id, 0),
                last_seen_seq=s.last_seen_seq,
                can_send=can_send,
                read_positions=domain.shown_read_positions(s.read_positions, user_id, can_send),
            )
        )
    return domain.newest_first(views)


async def get_conversation(
    uow_factory: UnitOfWorkFactory, friendships: Friendships, user_id: str, conversation_id: str
) -> ConversationView:
    async with read_transaction(uow_factory.engine) as conn:
        conversation = domain.require_member(
            await store.get_conversation(conn, conversation_id), user_id
        )
    can_send = await friendships.are_friends(user_id, conversation.other(user_id))
    return await _view(uow_factory, conversation, user_id, can_send=can_send)


async def _view(
    uow_factory: UnitOfWorkFactory, conversation: Conversation, user_id: str, *, can_send: bool
) -> ConversationView:
    async with read_transaction(uow_factory.engine) as conn:
        last = await store.last_messages(conn, [conversation.id])
        positions = await store.read_positions_of(conn, conversation.id)
        unread = await store.unread_count(conn, conversation.id, user_id)
    return ConversationView(
        conversation,
        last.get(conversation.id),
        unread,
        positions.get(user_id, 0),
        can_send,
        domain.shown_read_positions(positions, user_id, can_send),
    )
