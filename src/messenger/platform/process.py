"""Child-process helpers for `messenger up` and the tests that start real processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dying_with_parent(argv: list[str]) -> list[str]:
    """The command line that runs `argv` so that it ends when this process does, even by
    SIGKILL: children must not hold ports and files against the next start."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-m", "messenger.platform.deathsig", str(os.getpid()), *argv]


async def wait_for_port(
    host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
