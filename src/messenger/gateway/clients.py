"""Typed async clients of the five services the gateway fronts.

gRPC calls go through `platform.grpc.rpc` (deadline, request id, error translation);
profile-service is REST, so its client does the same by hand: the request id travels in
`X-Request-Id`, a connection failure is 503 `unavailable`, and an error answer comes back
as the `MessengerError` the service raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from messenger.pb.auth.v1 import auth_pb2 as auth_pb
from messenger.pb.auth.v1 import auth_pb2_grpc
from messenger.pb.contact.v1 import contact_pb2 as contact_pb
from messenger.pb.contact.v1 import contact_pb2_grpc
from messenger.pb.messaging.v1 import messaging_pb2 as messaging_pb
from messenger.pb.messaging.v1 import messaging_pb2_grpc
from messenger.pb.session.v1 import session_pb2 as session_pb
from messenger.pb.session.v1 import session_pb2_grpc
from messenger.platform.batches import Coalescer
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.grpc import rpc
from messenger.platform.http import REQUEST_ID_HEADER
from messenger.platform.logging import current_request_id

MAX_SENDS_PER_CALL = 256
"""messaging.proto's bound on one SendMessagesRequest."""


class _GrpcClient:
    def __init__(self, channel: grpc.aio.Channel, deadline: float) -> None:
        self._channel = channel
        self._deadline = deadline

    async def healthy(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            answer = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=min(self._deadline, 2.0)
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


class AuthClient(_GrpcClient):
    def __init__(self, channel: grpc.aio.Channel, deadline: float) -> None:
        super().__init__(channel, deadline)
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)

    async def register(
        self, email: str, username: str, password: str, display_name: str | None
    ) -> auth_pb.Account:
        request = auth_pb.RegisterRequest(email=email, username=username, password=password)
        if display_name is not None:
            request.display_name = display_name
        return await rpc(self._stub.Register, request, deadline=self._deadline)

    async def verify_email(self, token: str) -> auth_pb.VerifyEmailResponse:
        return await rpc(
            self._stub.VerifyEmail, auth_pb.VerifyEmailRequest(token=token), deadline=self._deadline
        )

    async def resend_verification(self, email: str) -> None:
        await rpc(
            self._stub.ResendVerification,
            auth_pb.ResendVerificationRequest(email=email),
            deadline=self._deadline,
        )

    async def login(
        self, login: str, password: str, device_name: str | None, client_address: str
    ) -> auth_pb.LoginResponse:
        request = auth_pb.LoginRequest(
            login=login, password=password, client_address=client_address
        )
        if device_name is not None:
            request.device_name = device_name
        return await rpc(self._stub.Login, request, deadline=self._deadline)

    async def change_password(
        self, user_id: str, session_id: str, current_password: str, new_password: str
    ) -> None:
        await rpc(
            self._stub.ChangePassword,
            auth_pb.ChangePasswordRequest(
                user_id=user_id,
                session_id=session_id,
                current_password=current_password,
                new_password=new_password,
            ),
            deadline=self._deadline,
        )

    async def forgot_password(self, email: str) -> None:
        await rpc(
            self._stub.ForgotPassword,
            auth_pb.ForgotPasswordRequest(email=email),
            deadline=self._deadline,
        )

    async def reset_password(self, token: str, new_password: str) -> None:
        await rpc(
            self._stub.ResetPassword,
            auth_pb.ResetPasswordRequest(token=token, new_password=new_password),
            deadline=self._deadline,
        )


class SessionClient(_GrpcClient):
    def __init__(self, channel: grpc.aio.Channel, deadline: float) -> None:
        super().__init__(channel, deadline)
        self._stub = session_pb2_grpc.SessionServiceStub(channel)

    async def refresh(self, refresh_token: str) -> session_pb.TokenPair:
        return await rpc(
            self._stub.RefreshSession,
            session_pb.RefreshSessionRequest(refresh_token=refresh_token),
            deadline=self._deadline,
        )

    async def revoke(self, session_id: str, user_id: str) -> None:
        await rpc(
            self._stub.RevokeSession,
            session_pb.RevokeSessionRequest(session_id=session_id, user_id=user_id),
            deadline=self._deadline,
        )

    async def revoke_others(self, user_id: str, keep_session_id: str) -> None:
        await rpc(
            self._stub.RevokeOtherSessions,
            session_pb.RevokeOtherSessionsRequest(user_id=user_id, keep_session_id=keep_session_id),
            deadline=self._deadline,
        )

    async def validate(self, session_id: str) -> session_pb.ValidateSessionResponse:
        return await rpc(
            self._stub.ValidateSession,
            session_pb.ValidateSessionRequest(session_id=session_id),
            deadline=self._deadline,
        )

    async def list(self, user_id: str) -> list[session_pb.SessionInfo]:
        answer = await rpc(
            self._stub.ListSessions,
            session_pb.ListSessionsRequest(user_id=user_id),
            deadline=self._deadline,
        )
        return list(answer.sessions)

    async def signing_keys(self) -> session_pb.GetSigningKeysResponse:
        return await rpc(
            self._stub.GetSigningKeys, session_pb.GetSigningKeysRequest(), deadline=self._deadline
        )


class ContactClient(_GrpcClient):
    def __init__(self, channel: grpc.aio.Channel, deadline: float) -> None:
        super().__init__(channel, deadline)
        self._stub = contact_pb2_grpc.ContactServiceStub(channel)

    async def add(self, user_id: str, other_user_id: str) -> contact_pb.AddFriendResponse:
        return await rpc(
            self._stub.AddFriend,
            contact_pb.AddFriendRequest(user_id=user_id, other_user_id=other_user_id),
            deadline=self._deadline,
        )

    async def accept(self, user_id: str, other_user_id: str) -> contact_pb.FriendStatus:
        return await rpc(
            self._stub.AcceptFriend,
            contact_pb.FriendPair(user_id=user_id, other_user_id=other_user_id),
            deadline=self._deadline,
        )

    async def decline(self, user_id: str, other_user_id: str) -> None:
        await rpc(
            self._stub.DeclineFriend,
            contact_pb.FriendPair(user_id=user_id, other_user_id=other_user_id),
            deadline=self._deadline,
        )

    async def remove(self, user_id: str, other_user_id: str) -> None:
        await rpc(
            self._stub.RemoveFriend,
            contact_pb.FriendPair(user_id=user_id, other_user_id=other_user_id),
            deadline=self._deadline,
        )

    async def is_friend(self, user_id: str, other_user_id: str) -> bool:
        answer = await rpc(
            self._stub.IsFriend,
            contact_pb.FriendPair(user_id=user_id, other_user_id=other_user_id),
            deadline=self._deadline,
        )
        return bool(answer.friends)

    async def friends(self, user_id: str) -> contact_pb.GetFriendsResponse:
        return await rpc(
            self._stub.GetFriends,
            contact_pb.GetFriendsRequest(user_id=user_id),
            deadline=self._deadline,
        )


class MessagingClient(_GrpcClient):
    def __init__(self, channel: grpc.aio.Channel, deadline: float) -> None:
        super().__init__(channel, deadline)
        self._stub = messaging_pb2_grpc.MessagingServiceStub(channel)
        # Concurrent POSTs of messages travel together in one SendMessages call.
        self._sends: Coalescer[messaging_pb.BatchedSend, messaging_pb.SendMessageResponse] = (
            Coalescer(
                self._send_batch,
                max_batch=MAX_SENDS_PER_CALL,
                name="gateway-sends",
            )
        )

    async def open_direct(
        self, user_id: str, other_user_id: str
    ) -> messaging_pb.OpenDirectConversationResponse:
        return await rpc(
            self._stub.OpenDirectConversation,
            messaging_pb.OpenDirectConversationRequest(
                user_id=user_id, other_user_id=other_user_id
            ),
            deadline=self._deadline,
        )

    async def conversations(self, user_id: str) -> list[messaging_pb.Conversation]:
        answer = await rpc(
            self._stub.ListConversations,
            messaging_pb.ListConversationsRequest(user_id=user_id),
            deadline=self._deadline,
        )
        return list(answer.conversations)

    async def conversation(self, user_id: str, conversation_id: str) -> messaging_pb.Conversation:
        """NOT_FOUND unless the user is a member."""
        return await rpc(
            self._stub.GetConversation,
            messaging_pb.GetConversationRequest(user_id=user_id, conversation_id=conversation_id),
            deadline=self._deadline,
        )

    async def send(
        self, user_id: str, conversation_id: str, text: str, client_message_id: str
    ) -> messaging_pb.SendMessageResponse:
        return await self._sends.submit(
            messaging_pb.BatchedSend(
                send=messaging_pb.SendMessageRequest(
                    user_id=user_id,
                    conversation_id=conversation_id,
                    text=text,
                    client_message_id=client_message_id,
                ),
                request_id=current_request_id() or "",
            )
        )

    async def _send_batch(
        self, sends: list[messaging_pb.BatchedSend]
    ) -> list[messaging_pb.SendMessageResponse | MessengerError]:
        answer = await rpc(
            self._stub.SendMessages,
            messaging_pb.SendMessagesRequest(sends=sends),
            deadline=self._deadline,
        )
        return [
            outcome.sent if outcome.HasField("sent") else _failure_error(outcome.failure)
            for outcome in answer.outcomes
        ]

    async def messages(
        self,
        user_id: str,
        conversation_id: str,
        *,
        after: int | None,
        before: int | None,
        limit: int,
    ) -> messaging_pb.GetMessagesResponse:
        request = messaging_pb.GetMessagesRequest(
            user_id=user_id, conversation_id=conversation_id, limit=limit
        )
        if after is not None:
            request.after = after
        if before is not None:
            request.before = before
        return await rpc(self._stub.GetMessages, request, deadline=self._deadline)

    async def mark_seen(
        self, user_id: str, conversation_id: str, seq: int
    ) -> messaging_pb.MarkSeenResponse:
        return await rpc(
            self._stub.MarkSeen,
            messaging_pb.MarkSeenRequest(user_id=user_id, conversation_id=conversation_id, seq=seq),
            deadline=self._deadline,
        )


def _failure_error(failure: messaging_pb.Failure) -> MessengerError:
    code = ErrorCode.__members__.get(failure.code, ErrorCode.INTERNAL)
    return MessengerError(
        code,
        failure.message or code.api_code,
        retry_after=failure.retry_after if failure.HasField("retry_after") else None,
    )


@dataclass(frozen=True)
class ProfileDoc:
    """profile-service's representation of a profile and its strong ETag."""

    data: dict[str, Any]
    etag: str


_ERRORS_BY_ANSWER = {(code.api_code, code.http_status): code for code in ErrorCode}


class ProfileClient:
    def __init__(self, http: httpx.AsyncClient, timeout: float) -> None:
        self._http = http
        self._timeout = timeout

    async def get(self, user_id: str) -> ProfileDoc:
        response = await self._call("GET", f"/internal/v1/profiles/{user_id}")
        return ProfileDoc(response.json(), response.headers["etag"])

    async def update(
        self, user_id: str, changes: dict[str, Any], if_match: str | None
    ) -> ProfileDoc:
        headers = {"If-Match": if_match} if if_match is not None else {}
        response = await self._call(
            "PATCH", f"/internal/v1/profiles/{user_id}", json=changes, headers=headers
        )
        return ProfileDoc(response.json(), response.headers["etag"])

    async def find_user(self, username: str) -> dict[str, Any]:
        response = await self._call("GET", f"/internal/v1/users/{quote(username, safe='')}")
        found: dict[str, Any] = response.json()
        return found

    async def healthy(self) -> bool:
        try:
            response = await self._http.get("/healthz", timeout=min(self._timeout, 2.0))
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        request_id = current_request_id()
        if request_id:
            all_headers[REQUEST_ID_HEADER] = request_id
        try:
            response = await self._http.request(
                method, path, json=json, headers=all_headers, timeout=self._timeout
            )
        except httpx.TransportError:
            raise MessengerError(
                ErrorCode.UNAVAILABLE,
                "The profile service is unavailable; try again.",
                retry_after=1,
            ) from None
        if response.is_success:
            return response
        raise _error_from(response)


def _error_from(response: httpx.Response) -> MessengerError:
    try:
        error = response.json()["error"]
        code = _ERRORS_BY_ANSWER[(error["code"], response.status_code)]
        message = str(error["message"])
    except (ValueError, KeyError, TypeError):
        if response.status_code >= 500:
            return MessengerError(
                ErrorCode.UNAVAILABLE,
                "The profile service is unavailable; try again.",
                retry_after=1,
            )
        return MessengerError(ErrorCode.INTERNAL, "Internal error.")
    retry = response.headers.get("retry-after")
    return MessengerError(
        code,
        message,
        retry_after=int(retry) if retry and retry.isdigit() else None,
        field=error.get("field") if isinstance(error.get("field"), str) else None,
    )


@dataclass(frozen=True)
class ServiceClients:
    auth: AuthClient
    session: SessionClient
    contact: ContactClient
    messaging: MessagingClient
    profile: ProfileClient
