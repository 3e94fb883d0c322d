"""Friend requests and friendships (contact-service)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from messenger.gateway.auth import Caller
from messenger.gateway.deps import Gateway
from messenger.gateway.routes import json_response, no_content, require_id
from messenger.gateway.schemas import UserRefBody, body_doc
from messenger.platform.clock import to_rfc3339
from messenger.platform.http import JSONResponse, read_json


def build(gw: Gateway) -> APIRouter:
    router = APIRouter(prefix="/v1/friends", tags=["friends"])
    contacts = gw.clients.contact
    CallerDep = Annotated[Caller, Depends(gw.authenticate)]  # noqa: N806

    @router.post("", status_code=201, openapi_extra=body_doc(UserRefBody))
    async def add_friend(request: Request, caller: CallerDep) -> JSONResponse:
        """201 for a new request, 200 when already pending or when it completed a
        mutual request (status `accepted`)."""
        body = await read_json(request, UserRefBody)
        answer = await contacts.add(caller.user_id, require_id(body.user_id, "user"))
        return json_response(
            {"user_id": answer.user_id, "status": answer.status},
            status=201 if answer.created else 200,
        )

    @router.get("")
    async def list_friends(caller: CallerDep) -> JSONResponse:
        answer = await contacts.friends(caller.user_id)
        return json_response(
            {
                "friends": [
                    {"user_id": f.user_id, "since": to_rfc3339(f.since_ms)} for f in answer.friends
                ],
                "incoming": [
                    {"user_id": r.user_id, "requested_at": to_rfc3339(r.requested_at_ms)}
                    for r in answer.incoming
                ],
                "outgoing": [
                    {"user_id": r.user_id, "requested_at": to_rfc3339(r.requested_at_ms)}
                    for r in answer.outgoing
                ],
            }
        )

    @router.post("/{user_id}/accept")
    async def accept_friend(user_id: str, caller: CallerDep) -> JSONResponse:
        answer = await contacts.accept(caller.user_id, require_id(user_id, "friend request"))
        return json_response({"user_id": answer.user_id, "status": answer.status})

    @router.post("/{user_id}/decline", status_code=204)
    async def decline_friend(user_id: str, caller: CallerDep) -> Response:
        await contacts.decline(caller.user_id, require_id(user_id, "friend request"))
        return no_content()

    @router.delete("/{user_id}", status_code=204)
    async def remove_friend(user_id: str, caller: CallerDep) -> Response:
        await contacts.remove(caller.user_id, require_id(user_id, "friend"))
        return no_content()

    return router
