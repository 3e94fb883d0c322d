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


async def serve_http(app: ASGIApp, host: str, port: int) -> None:
    """Serve until cancelled, then finish the requests in flight and stop listening."""
    server = _Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
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
