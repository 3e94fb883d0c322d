"""Accounts (auth-service) plus refresh and logout (session-service)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from messenger.gateway.auth import Caller
from messenger.gateway.deps import Gateway
from messenger.gateway.routes import json_response, no_content
from messenger.gateway.schemas import (
    ChangePasswordBody,
    EmailBody,
    LoginBody,
    RefreshBody,
    RegisterBody,
    ResetPasswordBody,
    VerifyEmailBody,
    body_doc,
)
from messenger.pb.auth.v1 import auth_pb2 as auth_pb
from messenger.pb.session.v1 import session_pb2 as session_pb
from messenger.platform.http import JSONResponse, read_json


def token_json(pair: auth_pb.LoginResponse | session_pb.TokenPair) -> JSONResponse:
    return json_response(
        {
            "access_token": pair.access_token,
            "token_type": "Bearer",
            "expires_in": pair.expires_in,
            "refresh_token": pair.refresh_token,
            "session_id": pair.session_id,
            "user_id": pair.user_id,
        }
    )


def build(gw: Gateway) -> APIRouter:
    router = APIRouter(prefix="/v1/auth", tags=["accounts"])
    auth = gw.clients.auth
    CallerDep = Annotated[Caller, Depends(gw.authenticate)]  # noqa: N806

    @router.post("/register", status_code=201, openapi_extra=body_doc(RegisterBody))
    async def register(request: Request) -> JSONResponse:
        body = await read_json(request, RegisterBody)
        account = await auth.register(body.email, body.username, body.password, body.display_name)
        return json_response(
            {
                "user_id": account.user_id,
                "email": account.email,
                "username": account.username,
                "email_verified": account.email_verified,
            },
            status=201,
        )

    @router.post("/verify-email", openapi_extra=body_doc(VerifyEmailBody))
    async def verify_email(request: Request) -> JSONResponse:
        body = await read_json(request, VerifyEmailBody)
        verified = await auth.verify_email(body.token)
        return json_response({"user_id": verified.user_id, "email_verified": True})

    @router.post("/resend-verification", status_code=202, openapi_extra=body_doc(EmailBody))
    async def resend_verification(request: Request) -> JSONResponse:
        body = await read_json(request, EmailBody)
        await auth.resend_verification(body.email)
        return json_response({}, status=202)

    @router.post("/login", openapi_extra=body_doc(LoginBody))
    async def login(request: Request) -> JSONResponse:
        body = await read_json(request, LoginBody)
        client = request.client.host if request.client else ""
        pair = await auth.login(body.login, body.password, body.device_name, client)
        return token_json(pair)

    @router.post("/change-password", status_code=204, openapi_extra=body_doc(ChangePasswordBody))
    async def change_password(request: Request, caller: CallerDep) -> Response:
        body = await read_json(request, ChangePasswordBody)
        await auth.change_password(
            caller.user_id, caller.session_id, body.current_password, body.new_password
        )
        return no_content()

    @router.post("/forgot-password", status_code=202, openapi_extra=body_doc(EmailBody))
    async def forgot_password(request: Request) -> JSONResponse:
        body = await read_json(request, EmailBody)
        await auth.forgot_password(body.email)
        return json_response({}, status=202)

    @router.post("/reset-password", status_code=204, openapi_extra=body_doc(ResetPasswordBody))
    async def reset_password(request: Request) -> Response:
        body = await read_json(request, ResetPasswordBody)
        await auth.reset_password(body.token, body.new_password)
        return no_content()

    @router.post("/refresh", openapi_extra=body_doc(RefreshBody))
    async def refresh(request: Request) -> JSONResponse:
        body = await read_json(request, RefreshBody)
        return token_json(await gw.clients.session.refresh(body.refresh_token))

    @router.post("/logout", status_code=204)
    async def logout(caller: CallerDep) -> Response:
        await gw.clients.session.revoke(caller.session_id, caller.user_id)
        gw.sessions.revoked(caller.session_id, caller.user_id)
        return no_content()

    return router
