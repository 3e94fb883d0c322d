"""Serving an ASGI app from a service's `serve(settings)`: uvicorn, stopped by cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    """The process's owner (the CLI) handles signals by cancelling `serve`; uvicorn must
    not take them over."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(
    app: ASGIApp, host: str, port: int, *, trusted_proxies: str | None = None
) -> None:
    """Serve until cancelled, then finish the requests in flight and stop listening.

    `X-Forwarded-For` is believed only from `trusted_proxies` (comma-separated
    addresses): otherwise any local client could pick the address that login
    throttling counts against."""
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            # permessage-deflate keeps zlib state per WebSocket (~60 KiB each) and
            # compresses every frame; chat frames are small, so it costs more than it saves.
            ws_per_message_deflate=False,
            proxy_headers=trusted_proxies is not None,
            forwarded_allow_ips=trusted_proxies,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise
    if not server.started:
        raise OSError(f"cannot listen on {host}:{port}")
