"""The caller's sessions (session-service)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from messenger.gateway.auth import Caller
from messenger.gateway.deps import Gateway
from messenger.gateway.routes import json_response, no_content, require_id
from messenger.platform.clock import to_rfc3339
from messenger.platform.http import JSONResponse


def build(gw: Gateway) -> APIRouter:
    router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
    sessions = gw.clients.session
    CallerDep = Annotated[Caller, Depends(gw.authenticate)]  # noqa: N806

    @router.get("")
    async def list_sessions(caller: CallerDep) -> JSONResponse:
        live = await sessions.list(caller.user_id)
        return json_response(
            {
                "sessions": [
                    {
                        "session_id": s.session_id,
                        "device_name": s.device_name or "unknown",
                        "created_at": to_rfc3339(s.created_at_ms),
                        "last_used_at": to_rfc3339(s.last_used_at_ms),
                        "current": s.session_id == caller.session_id,
                    }
                    for s in live
                ]
            }
        )

    @router.post("/revoke-others", status_code=204)
    async def revoke_others(caller: CallerDep) -> Response:
        await sessions.revoke_others(caller.user_id, caller.session_id)
        return no_content()

    @router.delete("/{session_id}", status_code=204)
    async def revoke_session(session_id: str, caller: CallerDep) -> Response:
        await sessions.revoke(require_id(session_id, "session"), caller.user_id)
        gw.sessions.revoked(session_id, caller.user_id)
        return no_content()

    return router
