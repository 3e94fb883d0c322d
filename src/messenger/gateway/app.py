"""The gateway's ASGI app, built from its dependencies (clients, token check, caches)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from messenger.gateway.deps import Gateway
from messenger.gateway.realtime.ws import RealtimeApp
from messenger.gateway.routes import (
    accounts,
    conversations,
    friends,
    ops,
    profiles,
    sessions,
    web,
)
from messenger.platform.http import (
    HeadAsGetMiddleware,
    JSONResponse,
    RequestContextMiddleware,
    install_error_handlers,
)


def create_app(gateway: Gateway) -> ASGIApp:
    """Two paths are served in front of FastAPI: `/v1/ws`, whose sockets must hold little
    memory each, and sending, which is most requests (see their modules)."""
    api = conversations.SendFront(
        _fastapi_app(gateway), gateway.clients.messaging, gateway.authenticate
    )
    return RealtimeApp(api, gateway)


def _fastapi_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(
        title="messenger",
        version="1",
        description="The public REST API of the messenger (API.md).",
        # API.md: unknown paths are 404 in the error shape, never a redirect.
        redirect_slashes=False,
        default_response_class=JSONResponse,
        # Metrics are Prometheus and logs structlog (platform/http.py); FastAPI's OpenTelemetry
        # bridge would ask the global providers on every request whether they are set up.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    # Added first, so it runs inside the request context: logs and metrics say HEAD.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(RequestContextMiddleware, service="gateway")
    # Routers are matched in this order, each costly on FastAPI: most requests are messages.
    for area in (conversations, accounts, sessions, profiles, friends, ops):
        app.include_router(area.build(gateway))
    # The web client: its page at / and the email landing pages, its files under /web/.
    app.include_router(web.build())
    return app
