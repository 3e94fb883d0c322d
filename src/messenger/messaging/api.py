"""gRPC servicer of `messenger.messaging.v1.MessagingService`: protobuf <-> use-cases only."""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from messenger.messaging import service
from messenger.messaging.directory import Directory
from messenger.messaging.domain import ConversationView, Message
from messenger.messaging.sending import Sender, Sent
from messenger.messaging.service import Friendships
from messenger.pb.messaging.v1 import messaging_pb2 as pb
from messenger.pb.messaging.v1.messaging_pb2_grpc import MessagingServiceServicer
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.logging import log
from messenger.platform.uow import UnitOfWorkFactory

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["MessagingService"].full_name
MAX_SENDS_PER_CALL = 256


def _message(message: Message) -> pb.Message:
    return pb.Message(
        message_id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender_id=message.sender_id,
        text=message.text,
        sent_at_ms=message.sent_at_ms,
        client_message_id=message.client_message_id,
    )


def _send_request(
    request: pb.SendMessageRequest, request_id: str | None = None
) -> service.SendRequest:
    return service.SendRequest(
        request.user_id,
        request.conversation_id,
        request.text,
        request.client_message_id,
        request_id,
    )


def _send_outcome(outcome: Sent | BaseException) -> pb.SendOutcome:
    if isinstance(outcome, Sent):
        return pb.SendOutcome(
            sent=pb.SendMessageResponse(message=_message(outcome.message), created=outcome.created)
        )
    if not isinstance(outcome, MessengerError):
        # Logged here, as the interceptor would for a call of its own.
        log.error("send failed", exc_info=outcome)
        outcome = MessengerError(ErrorCode.INTERNAL, "Internal error.")
    failure = pb.Failure(code=outcome.code.name, message=outcome.message)
    if outcome.retry_after is not None:
        failure.retry_after = outcome.retry_after
    return pb.SendOutcome(failure=failure)


def _conversation(view: ConversationView) -> pb.Conversation:
    c = view.conversation
    result = pb.Conversation(
        conversation_id=c.id,
        type=c.type,
        members=c.members,
        unread_count=view.unread_count,
        last_seen_seq=view.last_seen_seq,
        can_send=view.can_send,
        created_at_ms=c.created_at_ms,
        read_positions=view.read_positions,
    )
    if view.last_message is not None:
        result.last_message.CopyFrom(_message(view.last_message))
    return result


class MessagingApi(MessagingServiceServicer):
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        friendships: Friendships,
        directory: Directory,
        sender: Sender,
    ) -> None:
        self._uow = uow_factory
        self._friendships = friendships
        self._directory = directory
        self._sender = sender

    @override
    async def OpenDirectConversation(
        self, request: pb.OpenDirectConversationRequest, context: Any
    ) -> pb.OpenDirectConversationResponse:
        opened = await service.open_direct_conversation(
            self._uow, self._friendships, request.user_id, request.other_user_id
        )
        return pb.OpenDirectConversationResponse(
            conversation=_conversation(opened.view), created=opened.created
        )

    @override
    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Any
    ) -> pb.ListConversationsResponse:
        views = await service.list_conversations(self._uow, self._friendships, request.user_id)
        return pb.ListConversationsResponse(conversations=[_conversation(v) for v in views])

    @override
    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Any
    ) -> pb.Conversation:
        view = await service.get_conversation(
            self._uow, self._friendships, request.user_id, request.conversation_id
        )
        return _conversation(view)

    @override
    async def SendMessage(
        self, request: pb.SendMessageRequest, context: Any
    ) -> pb.SendMessageResponse:
        sent = await service.send_message(self._directory, self._sender, _send_request(request))
        return pb.SendMessageResponse(message=_message(sent.message), created=sent.created)

    @override
    async def SendMessages(
        self, request: pb.SendMessagesRequest, context: Any
    ) -> pb.SendMessagesResponse:
        if len(request.sends) > MAX_SENDS_PER_CALL:
            raise MessengerError(
                ErrorCode.INVALID_REQUEST, f"At most {MAX_SENDS_PER_CALL} sends per call."
            )
        outcomes = await service.send_messages(
            self._directory,
            self._sender,
            [_send_request(b.send, b.request_id or None) for b in request.sends],
        )
        return pb.SendMessagesResponse(outcomes=[_send_outcome(o) for o in outcomes])

    @override
    async def GetMessages(
        self, request: pb.GetMessagesRequest, context: Any
    ) -> pb.GetMessagesResponse:
        # proto3 cannot tell an unset `limit` from 0: 0 means "the default".
        messages, has_more = await service.get_messages(
            self._uow,
            request.user_id,
            request.conversation_id,
            after=request.after if request.HasField("after") else None,
            before=request.before if request.HasField("before") else None,
            limit=request.limit or None,
        )
        return pb.GetMessagesResponse(messages=[_message(m) for m in messages], has_more=has_more)

    @override
    async def MarkSeen(self, request: pb.MarkSeenRequest, context: Any) -> pb.MarkSeenResponse:
        seen = await service.mark_seen(
            self._uow, request.user_id, request.conversation_id, request.seq
        )
        return pb.MarkSeenResponse(
            conversation_id=seen.conversation_id,
            last_seen_seq=seen.last_seen_seq,
            unread_count=seen.unread_count,
        )
