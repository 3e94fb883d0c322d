"""Liveness, readiness and metrics."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from messenger.gateway.deps import Gateway
from messenger.gateway.routes import json_response
from messenger.platform.errors import ErrorCode, MessengerError
from messenger.platform.http import JSONResponse, metrics_response


def build(gw: Gateway) -> APIRouter:
    router = APIRouter(tags=["operations"])
    clients = gw.clients

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        """The process is alive."""
        return json_response({"status": "ok"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 only when NATS is connected and every service answers its health check."""
        names = ("auth", "session", "contact", "messaging", "profile")
        answers = await asyncio.gather(
            clients.auth.healthy(),
            clients.session.healthy(),
            clients.contact.healthy(),
            clients.messaging.healthy(),
            clients.profile.healthy(),
        )
        down = [name for name, ok in zip(names, answers, strict=True) if not ok]
        if not gw.nats_connected():
            down.append("nats")
        if down:
            raise MessengerError(
                ErrorCode.UNAVAILABLE, f"Not ready: {', '.join(down)}.", retry_after=1
            )
        return json_response({"status": "ok"})

    @router.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text format."""
        return metrics_response()

    return router
