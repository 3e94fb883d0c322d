"""The gRPC servicer of `messenger.auth.v1.AuthService`: protobuf <-> use-cases."""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from messenger.auth import service
from messenger.auth.service import AuthDeps
from messenger.pb.auth.v1 import auth_pb2 as pb
from messenger.pb.auth.v1 import auth_pb2_grpc as pb_grpc

SERVICE_NAME = "messenger.auth.v1.AuthService"


class AuthServicer(pb_grpc.AuthServiceServicer):
    def __init__(self, deps: AuthDeps) -> None:
        self._deps = deps

    @override
    async def Register(self, request: pb.RegisterRequest, context: Any) -> pb.Account:
        display_name = request.display_name if request.HasField("display_name") else None
        account = await service.register(
            self._deps, request.email, request.username, request.password, display_name
        )
        return pb.Account(
            user_id=account.id,
            email=account.email,
            username=account.username,
            email_verified=account.email_verified,
        )

    @override
    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: Any
    ) -> pb.VerifyEmailResponse:
        user_id = await service.verify_email(self._deps, request.token)
        return pb.VerifyEmailResponse(user_id=user_id, email_verified=True)

    @override
    async def ResendVerification(
        self, request: pb.ResendVerificationRequest, context: Any
    ) -> pb.Accepted:
        await service.resend_verification(self._deps, request.email)
        return pb.Accepted()

    @override
    async def Login(self, request: pb.LoginRequest, context: Any) -> pb.LoginResponse:
        device_name = request.device_name if request.HasField("device_name") else None
        tokens = await service.login(
            self._deps, request.login, request.password, device_name, request.client_address
        )
        return pb.LoginResponse(
            access_token=tokens.access_token,
            expires_in=tokens.expires_in,
            refresh_token=tokens.refresh_token,
            session_id=tokens.session_id,
            user_id=tokens.user_id,
        )

    @override
    async def ChangePassword(self, request: pb.ChangePasswordRequest, context: Any) -> pb.Accepted:
        await service.change_password(
            self._deps,
            request.user_id,
            request.session_id,
            request.current_password,
            request.new_password,
        )
        return pb.Accepted()

    @override
    async def ForgotPassword(self, request: pb.ForgotPasswordRequest, context: Any) -> pb.Accepted:
        await service.forgot_password(self._deps, request.email)
        return pb.Accepted()

    @override
    async def ResetPassword(self, request: pb.ResetPasswordRequest, context: Any) -> pb.Accepted:
        await service.reset_password(self._deps, request.token, request.new_password)
        return pb.Accepted()
