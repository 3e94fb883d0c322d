"""Test harness: messaging-service and the contact-service it asks, both running for real
(gRPC, their own databases, one NATS), plus helpers to make users and friendships."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from messenger.pb.contact.v1 import contact_pb2 as contact_pb
from messenger.pb.contact.v1.contact_pb2_grpc import ContactServiceStub
from messenger.pb.messaging.v1 import messaging_pb2 as pb
from messenger.pb.messaging.v1.messaging_pb2_grpc import MessagingServiceStub
from messenger.platform import bus
from messenger.platform.config import Settings
from messenger.platform.db import database_url
from messenger.platform.events import Envelope
from messenger.platform.grpc import rpc
from messenger.platform.ids import new_id
from messenger.platform.migrations import upgrade
from messenger.platform.process import wait_for_port

DEADLINE = 10.0


@dataclass
class Services:
    contact: ContactServiceStub
    messaging: MessagingServiceStub
    js: JetStreamContext

    async def users(self, count: int) -> list[str]:
        """New users, known to contact-service (as if auth-service had registered them)."""
        ids = [new_id() for _ in range(count)]
        last_seq = 0
        for user_id in ids:
            envelope = Envelope.new(
                "user.created",
                {"user_id": user_id, "username": f"u{user_id[:12]}", "display_name": None},
                producer="auth",
                request_id=None,
            )
            ack = await self.js.publish(
                envelope.subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id}
            )
            last_seq = ack.seq
        await self.consumed("contact-users", last_seq)
        return ids

    async def befriend(self, a: str, b: str) -> None:
        await rpc(
            self.contact.AddFriend,
            contact_pb.AddFriendRequest(user_id=a, other_user_id=b),
            deadline=DEADLINE,
        )
        await rpc(
            self.contact.AcceptFriend,
            contact_pb.FriendPair(user_id=b, other_user_id=a),
            deadline=DEADLINE,
        )

    async def unfriend(self, a: str, b: str) -> None:
        await rpc(
            self.contact.RemoveFriend,
            contact_pb.FriendPair(user_id=a, other_user_id=b),
            deadline=DEADLINE,
        )

    async def open(self, user: str, other: str) -> pb.OpenDirectConversationResponse:
        request = pb.OpenDirectConversationRequest(user_id=user, other_user_id=other)
        return await rpc(self.messaging.OpenDirectConversation, request, deadline=DEADLINE)

    async def chat(self, a: str, b: str) -> str:
        """Befriend a and b and open their conversation; returns its id."""
        await self.befriend(a, b)
        return (await self.open(a, b)).conversation.conversation_id

    async def send(
        self, user: str, conversation_id: str, text: str, client_message_id: str | None = None
    ) -> pb.SendMessageResponse:
        request = pb.SendMessageRequest(
            user_id=user,
            conversation_id=conversation_id,
            text=text,
            client_message_id=new_id() if client_message_id is None else client_message_id,
        )
        return await rpc(self.messaging.SendMessage, request, deadline=DEADLINE)

    async def send_many(
        self, sends: list[tuple[str, str, str, str]], request_ids: list[str] | None = None
    ) -> list[pb.SendOutcome]:
        """One SendMessages call of (user, conversation, text, client_message_id) sends."""
        request = pb.SendMessagesRequest(
            sends=[
                pb.BatchedSend(
                    send=pb.SendMessageRequest(
                        user_id=user, conversation_id=conversation, text=text, client_message_id=key
                    ),
                    request_id=request_ids[i] if request_ids else "",
                )
                for i, (user, conversation, text, key) in enumerate(sends)
            ]
        )
        return list((await rpc(self.messaging.SendMessages, request, deadline=DEADLINE)).outcomes)

    async def messages(
        self,
        user: str,
        conversation_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 0,
    ) -> tuple[list[int], bool]:
        """The seqs of one page, and has_more."""
        request = pb.GetMessagesRequest(
            user_id=user, conversation_id=conversation_id, after=after, before=before, limit=limit
        )
        page = await rpc(self.messaging.GetMessages, request, deadline=DEADLINE)
        return [m.seq for m in page.messages], page.has_more

    async def mark_seen(self, user: str, conversation_id: str, seq: int) -> pb.MarkSeenResponse:
        request = pb.MarkSeenRequest(user_id=user, conversation_id=conversation_id, seq=seq)
        return await rpc(self.messaging.MarkSeen, request, deadline=DEADLINE)

    async def conversations(self, user: str) -> list[pb.Conversation]:
        request = pb.ListConversationsRequest(user_id=user)
        response = await rpc(self.messaging.ListConversations, request, deadline=DEADLINE)
        return list(response.conversations)

    async def conversation(self, user: str, conversation_id: str) -> pb.Conversation:
        request = pb.GetConversationRequest(user_id=user, conversation_id=conversation_id)
        return await rpc(self.messaging.GetConversation, request, deadline=DEADLINE)

    async def consumed(self, durable: str, stream_seq: int) -> None:
        """Until `durable` has acked everything in the stream up to `stream_seq`."""
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(NotFoundError):
                info = await self.js.consumer_info(bus.STREAM, durable)
                if (info.ack_floor.stream_seq or 0) >= stream_seq:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{durable} did not consume up to {stream_seq}")
            await asyncio.sleep(0.02)

    async def events(
        self, subject: str, count: int, timeout: float = 10
    ) -> list[tuple[Envelope, str | None]]:
        """The first `count` events on `subject` in the stream, with their Nats-Msg-Id."""
        subscription = await self.js.pull_subscribe(subject, stream=bus.STREAM)
        found: list[tuple[Envelope, str | None]] = []
        deadline = time.monotonic() + timeout
        try:
            while len(found) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {len(found)} of {count} events on {subject}")
                with contextlib.suppress(TimeoutError):
                    for msg in await subscription.fetch(count - len(found), timeout=0.5):
                        headers = msg.headers or {}
                        found.append((Envelope.from_json(msg.data), headers.get("Nats-Msg-Id")))
                        await msg.ack()
        finally:
            await subscription.unsubscribe()
        return found


async def start_service(
    serve: Callable[[Settings], Coroutine[Any, Any, None]],
    settings: Settings,
    service: str,
    addr: str,
) -> asyncio.Task[None]:
    await upgrade(service, database_url(settings, service))
    task = asyncio.create_task(serve(settings))
    host, port = addr.rsplit(":", 1)
    await wait_for_port(host, int(port), timeout=20)
    return task
