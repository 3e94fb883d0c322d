"""The typed client of session-service that auth-service needs: every call has a deadline
and carries the request id; errors come back as `MessengerError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import grpc

from messenger.auth.domain import LoginTokens
from messenger.pb.session.v1 import session_pb2 as pb
from messenger.pb.session.v1 import session_pb2_grpc as pb_grpc
from messenger.platform.grpc import rpc

if TYPE_CHECKING:
    from messenger.pb.session.v1.session_pb2_grpc import SessionServiceAsyncStub


class SessionClient:
    def __init__(self, session_channel: grpc.aio.Channel, deadline: float) -> None:
        self._stub = cast("SessionServiceAsyncStub", pb_grpc.SessionServiceStub(session_channel))
        self._deadline = deadline

    async def create_session(self, user_id: str, device_name: str) -> LoginTokens:
        pair: pb.TokenPair = await rpc(
            self._stub.CreateSession,
            pb.CreateSessionRequest(user_id=user_id, device_name=device_name),
            deadline=self._deadline,
        )
        return LoginTokens(
            access_token=pair.access_token,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token,
            session_id=pair.session_id,
            user_id=pair.user_id,
        )

    async def revoke_other_sessions(self, user_id: str, keep_session_id: str, reason: str) -> int:
        revoked: pb.Revoked = await rpc(
            self._stub.RevokeOtherSessions,
            pb.RevokeOtherSessionsRequest(
                user_id=user_id, keep_session_id=keep_session_id, reason=reason
            ),
            deadline=self._deadline,
        )
        return revoked.count
