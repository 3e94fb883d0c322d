"""The `messenger` command: `up` (everything on one machine), `serve <svc>`, `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import uvloop

from messenger import bench
from messenger.platform.config import SERVICES, Settings, load_settings
from messenger.platform.logging import configure_logging
from messenger.platform.migrations import migrate_all


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="messenger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the whole system in the foreground")
    serve = commands.add_parser("serve", help="run one service (one instance)")
    serve.add_argument("service", choices=SERVICES)
    commands.add_parser("migrate", help="bring every database schema up to date")
    commands.add_parser(
        "rotate-keys", help="add a new access-token signing key (old tokens stay valid)"
    )
    bench.add_arguments(commands.add_parser("bench", help="load the system and measure it"))
    args = parser.parse_args(argv)

    if args.command == "bench":
        bench.run(args)
        return
    settings = load_settings()
    if args.command == "up":
        from messenger.supervisor import run_up

        configure_logging("up", settings.log_level, settings.log_format)
        run_until_signalled(lambda: run_up(settings))
    elif args.command == "serve":
        configure_logging(args.service, settings.log_level, settings.log_format)
        run_until_signalled(lambda: serve_service(args.service, settings))
    elif args.command == "rotate-keys":
        from messenger.session.main import rotate_keys

        configure_logging("rotate-keys", settings.log_level, settings.log_format)
        print(f"New signing key: {asyncio.run(rotate_keys(settings))}", flush=True)
    else:
        configure_logging("migrate", settings.log_level, settings.log_format)
        asyncio.run(migrate_all(settings))


async def serve_service(service: str, settings: Settings) -> None:
    module = importlib.import_module(f"messenger.{service}.main")
    serve: Callable[[Settings], Awaitable[None]] = module.serve
    await serve(settings)


def run_until_signalled(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `work` until it ends or SIGINT/SIGTERM cancels it, so that its cleanup runs."""

    async def runner() -> None:
        task = asyncio.create_task(work())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    uvloop.run(runner())
