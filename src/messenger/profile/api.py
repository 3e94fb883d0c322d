"""profile-service's internal REST API, for the gateway: HTTP <-> use-case translation only.

GETs carry a strong `ETag` and answer 304 to a matching `If-None-Match`; PATCH honours
`If-Match`. Timestamps stay integer milliseconds here; the gateway formats them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from messenger.platform.errors import ErrorCode, MessengerError, invalid, not_found
from messenger.platform.http import (
    HeadAsGetMiddleware,
    JSONResponse,
    RequestContextMiddleware,
    install_error_handlers,
    metrics_response,
    parse_json,
    read_body,
    reject_bad_strings,
)
from messenger.platform.ids import is_valid_id
from messenger.platform.uow import UnitOfWorkFactory
from messenger.profile import domain, service

CACHE_CONTROL = "private, no-cache"


def profile_json(profile: domain.Profile) -> dict[str, Any]:
    return {
        "user_id": profile.user_id,
        "username": profile.username,
        "display_name": profile.display_name,
        "bio": profile.bio,
        "avatar_url": profile.avatar_url,
        "email_verified": profile.email_verified,
        "updated_at_ms": profile.updated_at_ms,
        "version": profile.version,
    }


def _profile_response(profile: domain.Profile, if_none_match: str | None) -> Response:
    headers = {"ETag": profile.etag, "Cache-Control": CACHE_CONTROL}
    if domain.none_match_hits(if_none_match, profile.etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(profile_json(profile), headers=headers)


def create_app(uow_factory: UnitOfWorkFactory, ready: Callable[[], Awaitable[bool]]) -> FastAPI:
    """`ready` says whether the database and NATS are reachable (for /readyz)."""
    engine = uow_factory.engine
    app = FastAPI(title="messenger profile-service (internal)", version="1", redirect_slashes=False)
    install_error_handlers(app)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(RequestContextMiddleware, service="profile")

    @app.get("/internal/v1/profiles/{user_id}")
    async def get_profile(user_id: str, request: Request) -> Response:
        if not is_valid_id(user_id):
            raise not_found("profile")
        profile = await service.get_profile(engine, user_id)
        return _profile_response(profile, request.headers.get("if-none-match"))

    @app.patch("/internal/v1/profiles/{user_id}")
    async def patch_profile(user_id: str, request: Request) -> Response:
        if not is_valid_id(user_id):
            raise not_found("profile")
        body = parse_json(await read_body(request))
        if not isinstance(body, dict):
            raise invalid("The body must be a JSON object.")
        reject_bad_strings(body)
        profile = await service.update_profile(
            uow_factory, user_id, body, request.headers.get("if-match")
        )
        return _profile_response(profile, None)

    @app.get("/internal/v1/users/{username}")
    async def find_user(username: str) -> Response:
        profile = await service.find_user(engine, username)
        return JSONResponse(
            {
                "user_id": profile.user_id,
                "username": profile.username,
                "display_name": profile.display_name,
            }
        )

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        if not await ready():
            raise MessengerError(ErrorCode.UNAVAILABLE, "Not ready.", retry_after=1)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return metrics_response()

    return app
