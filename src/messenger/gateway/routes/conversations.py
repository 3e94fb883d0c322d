"""Conversations and messages (messaging-service).

With a conversation in the path, a non-member's request is 404 before any 422: when the
body or query is invalid, the route first asks messaging-service whether the caller may
see the conversation at all.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from messenger.gateway.auth import Authenticate, Caller, authenticate_request
from messenger.gateway.clients import MessagingClient
from messenger.gateway.deps import Gateway
from messenger.gateway.routes import json_response, require_id
from messenger.gateway.schemas import SeenBody, SendMessageBody, UserRefBody, body_doc, parse_paging
from messenger.pb.messaging.v1 import messaging_pb2 as messaging_pb
from messenger.platform.clock import to_rfc3339
from messenger.platform.errors import MessengerError
from messenger.platform.http import (
    JSONResponse,
    RequestContextMiddleware,
    error_response_for,
    read_json,
)


def message_json(message: messaging_pb.Message) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender_id": message.sender_id,
        "text": message.text,
        "sent_at": to_rfc3339(message.sent_at_ms),
        "client_message_id": message.client_message_id,
    }


def conversation_json(conversation: messaging_pb.Conversation) -> dict[str, Any]:
    """API.md's conversation, plus `created_at` and `read_positions` (the members'
    `last_seen_seq` by user_id, the caller's own equal to `last_seen_seq`; between former
    friends only the caller's)."""
    members = sorted(conversation.members)
    return {
        "conversation_id": conversation.conversation_id,
        "type": conversation.type,
        "members": members,
        "last_message": (
            message_json(conversation.last_message)
            if conversation.HasField("last_message")
            else None
        ),
        "unread_count": conversation.unread_count,
        "last_seen_seq": conversation.last_seen_seq,
        "can_send": conversation.can_send,
        "created_at": to_rfc3339(conversation.created_at_ms),
        "read_positions": {
            m: conversation.read_positions[m] for m in members if m in conversation.read_positions
        },
    }


SEND_PATH = "/v1/conversations/{conversation_id}/messages"
_SEND_PATH = re.compile(r"/v1/conversations/([^/]+)/messages")


class _SendRoute:
    """What the request metrics read from `scope["route"]`, as a FastAPI route gives."""

    path = SEND_PATH


class SendFront:
    """`POST SEND_PATH` served in front of FastAPI; every other request goes on to `app`.

    Most requests are sends, and FastAPI's middlewares, routing and dependency solving
    cost more CPU than the rest of a send's work in the gateway. The same steps run here
    in the same order: request id, metrics and log line, then the token (401 first), then
    `post_message`, the code the FastAPI route runs too, and every error in API.md's shape.
    """

    def __init__(self, app: ASGIApp, messaging: MessagingClient, authenticate: Authenticate):
        self._app = app
        self._messaging = messaging
        self._authenticate = authenticate
        self._served = RequestContextMiddleware(self._serve, service="gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and (match := _SEND_PATH.fullmatch(scope["path"]))
        ):
            scope["path_params"] = {"conversation_id": match[1]}
            scope["route"] = _SendRoute
            await self._served(scope, receive, send)
            return
        await self._app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            caller = await authenticate_request(self._authenticate, request)
            response = await post_message(
                self._messaging, caller, scope["path_params"]["conversation_id"], request
            )
        except Exception as exc:
            response = error_response_for(exc)
        await response(scope, receive, send)


async def post_message(
    messaging: MessagingClient, caller: Caller, conversation_id: str, request: Request
) -> JSONResponse:
    """`POST SEND_PATH`, once the caller is known: `SendFront` serves it, and the FastAPI
    route below (which declares it for the OpenAPI document and a 405's `Allow`) too."""
    body = await read_json(
        request,
        SendMessageBody,
        before_validation_error=lambda: _ensure_visible(messaging, caller, conversation_id),
    )
    answer = await messaging.send(
        caller.user_id,
        require_id(conversation_id, "conversation"),
        body.text,
        body.client_message_id,
    )
    return json_response(message_json(answer.message), status=201 if answer.created else 200)


async def _ensure_visible(messaging: MessagingClient, caller: Caller, conversation_id: str) -> None:
    await messaging.conversation(caller.user_id, require_id(conversation_id, "conversation"))


def build(gw: Gateway) -> APIRouter:
    router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
    messaging = gw.clients.messaging
    CallerDep = Annotated[Caller, Depends(gw.authenticate)]  # noqa: N806

    async def ensure_visible(caller: Caller, conversation_id: str) -> None:
        await _ensure_visible(messaging, caller, conversation_id)

    @router.post("/direct", status_code=201, openapi_extra=body_doc(UserRefBody))
    async def open_direct(request: Request, caller: CallerDep) -> JSONResponse:
        """201 when the conversation was created now, 200 when it already existed; the
        conversation has the shape of one in `GET /v1/conversations`."""
        body = await read_json(request, UserRefBody)
        answer = await messaging.open_direct(caller.user_id, require_id(body.user_id, "user"))
        return json_response(
            conversation_json(answer.conversation), status=201 if answer.created else 200
        )

    @router.get("")
    async def list_conversations(caller: CallerDep) -> JSONResponse:
        """`{conversations: [{conversation_id, type, members, last_message, unread_count,
        last_seen_seq, can_send, created_at, read_positions}]}`, newest last message first.

        Beyond API.md: `created_at` (when the conversation was opened) and
        `read_positions`, every member's `last_seen_seq` by user_id (`{"<user_id>": 7,
        …}`), the caller's own included and equal to `last_seen_seq`; in a read-only
        conversation (former friends) only the caller's. A member's position
        follows API.md's rules (never moves back, moves to their own message when they
        send), so a client shows "Seen" under its user's newest message at or below the
        other member's position, and keeps it current with `message.seen` frames.
        """
        conversations = await messaging.conversations(caller.user_id)
        return json_response({"conversations": [conversation_json(c) for c in conversations]})

    @router.post(
        "/{conversation_id}/messages", status_code=201, openapi_extra=body_doc(SendMessageBody)
    )
    async def send_message(
        conversation_id: str, request: Request, caller: CallerDep
    ) -> JSONResponse:
        """201 for a new message; 200 with the original for a replayed client_message_id."""
        return await post_message(messaging, caller, conversation_id, request)

    @router.get("/{conversation_id}/messages")
    async def get_messages(
        conversation_id: str, request: Request, caller: CallerDep
    ) -> JSONResponse:
        """Query: `after`, `before` (seq bounds, exclusive), `limit` (default 50, max 100)."""
        require_id(conversation_id, "conversation")
        try:
            paging = parse_paging(request.query_params)
        except MessengerError:
            await ensure_visible(caller, conversation_id)
            raise
        answer = await messaging.messages(
            caller.user_id,
            conversation_id,
            after=paging.after,
            before=paging.before,
            limit=paging.limit,
        )
        return json_response(
            {"messages": [message_json(m) for m in answer.messages], "has_more": answer.has_more}
        )

    @router.post("/{conversation_id}/seen", openapi_extra=body_doc(SeenBody))
    async def mark_seen(conversation_id: str, request: Request, caller: CallerDep) -> JSONResponse:
        body = await read_json(
            request,
            SeenBody,
            before_validation_error=lambda: ensure_visible(caller, conversation_id),
        )
        answer = await messaging.mark_seen(
            caller.user_id, require_id(conversation_id, "conversation"), body.seq
        )
        return json_response(
            {
                "conversation_id": answer.conversation_id,
                "last_seen_seq": answer.last_seen_seq,
                "unread_count": answer.unread_count,
            }
        )

    return router
