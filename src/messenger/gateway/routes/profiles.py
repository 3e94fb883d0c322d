"""Profiles and the username directory (profile-service), with HTTP revalidation.

The gateway answers from its profile cache when it can; a matching `If-None-Match` is a
304 without a body. ETags are profile-service's own, so they survive the cache.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from messenger.gateway.auth import Caller
from messenger.gateway.clients import ProfileDoc
from messenger.gateway.deps import Gateway
from messenger.gateway.routes import json_response, require_id
from messenger.gateway.schemas import ProfilePatchBody, body_doc
from messenger.platform.clock import to_rfc3339
from messenger.platform.errors import invalid
from messenger.platform.http import JSONResponse, read_json, reject_bad_strings

CACHE_CONTROL = "private, no-cache"


def profile_json(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": data["user_id"],
        "username": data["username"],
        "display_name": data["display_name"],
        "bio": data["bio"],
        "avatar_url": data["avatar_url"],
        "email_verified": data["email_verified"],
        "updated_at": to_rfc3339(data["updated_at_ms"]),
    }


def none_match_hits(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison, `*` matches any current representation."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


def profile_response(doc: ProfileDoc, request: Request, *, own: bool) -> Response:
    headers = {"ETag": doc.etag, "Cache-Control": CACHE_CONTROL}
    if own:
        headers["Vary"] = "Authorization"
    if none_match_hits(request.headers.get("if-none-match"), doc.etag):
        return Response(status_code=304, headers=headers)
    return json_response(profile_json(doc.data), headers=headers)


def build(gw: Gateway) -> APIRouter:
    router = APIRouter(tags=["profiles"])
    CallerDep = Annotated[Caller, Depends(gw.authenticate)]  # noqa: N806

    @router.get("/v1/profiles/me")
    async def my_profile(request: Request, caller: CallerDep) -> Response:
        return profile_response(await gw.profiles.get(caller.user_id), request, own=True)

    @router.patch("/v1/profiles/me", openapi_extra=body_doc(ProfilePatchBody))
    async def update_my_profile(request: Request, caller: CallerDep) -> Response:
        body = await read_json(request, ProfilePatchBody)
        try:
            doc = await gw.clients.profile.update(
                caller.user_id, body.changes(), request.headers.get("if-match")
            )
        finally:
            gw.profiles.drop(caller.user_id)
        return json_response(
            profile_json(doc.data),
            headers={"ETag": doc.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization"},
        )

    @router.get("/v1/profiles/{user_id}", dependencies=[Depends(gw.authenticate)])
    async def get_profile(user_id: str, request: Request) -> Response:
        doc = await gw.profiles.get(require_id(user_id, "profile"))
        return profile_response(doc, request, own=False)

    @router.get("/v1/users", dependencies=[Depends(gw.authenticate)])
    async def find_user(username: str | None = None) -> JSONResponse:
        if not username:
            raise invalid("username: required.", field="username")
        reject_bad_strings(username, "username")
        found = await gw.clients.profile.find_user(username)
        return json_response(
            {
                "user_id": found["user_id"],
                "username": found["username"],
                "display_name": found["display_name"],
            }
        )

    return router
