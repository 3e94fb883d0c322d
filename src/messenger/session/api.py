"""The gRPC servicer of `messenger.session.v1.SessionService`: protobuf <-> use-cases."""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from messenger.pb.session.v1 import session_pb2 as pb
from messenger.pb.session.v1 import session_pb2_grpc as pb_grpc
from messenger.platform.uow import UnitOfWorkFactory
from messenger.session import domain, service
from messenger.session.domain import Lifetimes, TokenPair
from messenger.session.tokens import Signer

SERVICE_NAME = "messenger.session.v1.SessionService"


def _pair(pair: TokenPair) -> pb.TokenPair:
    return pb.TokenPair(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        session_id=pair.session_id,
        user_id=pair.user_id,
    )


class SessionServicer(pb_grpc.SessionServiceServicer):
    def __init__(
        self, uow_factory: UnitOfWorkFactory, signer: Signer, lifetimes: Lifetimes
    ) -> None:
        self._uow = uow_factory
        self._signer = signer
        self._lifetimes = lifetimes

    @override
    async def CreateSession(self, request: pb.CreateSessionRequest, context: Any) -> pb.TokenPair:
        pair = await service.create_session(
            self._uow, self._signer, self._lifetimes, request.user_id, request.device_name
        )
        return _pair(pair)

    @override
    async def RefreshSession(self, request: pb.RefreshSessionRequest, context: Any) -> pb.TokenPair:
        pair = await service.refresh_session(
            self._uow, self._signer, self._lifetimes, request.refresh_token
        )
        return _pair(pair)

    @override
    async def RevokeSession(self, request: pb.RevokeSessionRequest, context: Any) -> pb.Revoked:
        count = await service.revoke_session(
            self._uow, request.session_id, request.user_id, request.reason
        )
        return pb.Revoked(count=count)

    @override
    async def RevokeOtherSessions(
        self, request: pb.RevokeOtherSessionsRequest, context: Any
    ) -> pb.Revoked:
        count = await service.revoke_other_sessions(
            self._uow, request.user_id, request.keep_session_id, request.reason
        )
        return pb.Revoked(count=count)

    @override
    async def ValidateSession(
        self, request: pb.ValidateSessionRequest, context: Any
    ) -> pb.ValidateSessionResponse:
        session = await service.validate_session(self._uow, request.session_id)
        if session is None:
            return pb.ValidateSessionResponse(active=False)
        return pb.ValidateSessionResponse(active=True, user_id=session.user_id)

    @override
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: Any
    ) -> pb.ListSessionsResponse:
        sessions = await service.list_sessions(self._uow, request.user_id)
        return pb.ListSessionsResponse(
            sessions=[
                pb.SessionInfo(
                    session_id=s.id,
                    device_name=s.device_name,
                    created_at_ms=s.created_at_ms,
                    last_used_at_ms=s.last_used_at_ms,
                )
                for s in sessions
            ]
        )

    @override
    async def GetSigningKeys(
        self, request: pb.GetSigningKeysRequest, context: Any
    ) -> pb.GetSigningKeysResponse:
        keys = await service.public_keys(self._uow, self._signer.ttl_seconds * 1000)
        return pb.GetSigningKeysResponse(
            keys=[
                pb.SigningKey(kid=k.kid, algorithm=k.algorithm, public_key_pem=k.public_key_pem)
                for k in keys
            ],
            issuer=domain.ISSUER,
            audience=domain.AUDIENCE,
        )
