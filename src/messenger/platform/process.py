"""Child-process helpers for `messenger up` and the tests that start real processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

_LOWEST_PORT = 10_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A port nothing listens on, for a child that binds it later.

    Chosen at random below the kernel's ephemeral range: a port from bind(0) comes from
    that range, so an outgoing connection of any process could take it in the moment
    before the child binds it (seen in a test run).
    """
    first_ephemeral = 32_768
    with contextlib.suppress(OSError, ValueError):
        first_ephemeral = int(_EPHEMERAL_RANGE.read_text().split()[0])
    if first_ephemeral - _LOWEST_PORT < 1_000:
        return _any_free_port()
    for _ in range(100):
        port = random.randrange(_LOWEST_PORT, first_ephemeral)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return _any_free_port()


def _any_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dying_with_parent(argv: list[str], *, holding: Path | None = None) -> list[str]:
    """The command line that runs `argv` so that it ends when this process does, even by
    SIGKILL (children must not hold ports and files against the next start), holding a
    shared lock on `holding` for as long as it lives."""
    if not sys.platform.startswith("linux"):
        return argv
    lock = str(holding) if holding is not None else "-"
    return [sys.executable, "-m", "messenger.platform.deathsig", str(os.getpid()), lock, *argv]


class DataDirInUseError(Exception):
    pass


class DataDirLock:
    """One `messenger up` per data dir: a second one would run a second NATS server on
    the same JetStream store and a second set of services on the same SQLite files.

    `up` holds `.up.lock` alone; its children hold `.children.lock` shared, so a new
    `up` also waits for the children of a killed predecessor to finish stopping.
    """

    def __init__(self, data_dir: Path) -> None:
        self.owner_path = data_dir / ".up.lock"
        self.children_path = data_dir / ".children.lock"
        self._fd: int | None = None

    async def acquire(self, wait_seconds: float = 20.0) -> None:
        fd = os.open(self.owner_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUseError(
                f"{self.owner_path.parent} is in use by another `messenger up`"
            ) from None
        self._fd = fd
        children = os.open(self.children_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(children, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        self.release()
                        raise DataDirInUseError(
                            f"processes of an earlier `messenger up` still use "
                            f"{self.owner_path.parent}"
                        ) from None
                    await asyncio.sleep(0.1)
        finally:
            os.close(children)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
