"""REST routes of API.md, one module per area; each `build(gateway)` returns a router."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from messenger.platform.errors import not_found
from messenger.platform.http import JSONResponse
from messenger.platform.ids import is_valid_id


def json_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def require_id(value: str, what: str) -> str:
    """A malformed id is a plain 404 that never reaches a service."""
    if not is_valid_id(value):
        raise not_found(what)
    return value
