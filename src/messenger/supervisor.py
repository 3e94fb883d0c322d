"""`messenger up`: the six services as child processes, plus embedded NATS when none is
configured, on one machine, in the foreground."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from messenger.platform.config import Settings
from messenger.platform.logging import log
from messenger.platform.migrations import migrate_all
from messenger.platform.nats_server import EmbeddedNats
from messenger.platform.process import (
    DataDirInUseError,
    DataDirLock,
    dying_with_parent,
    free_port,
)

BACKENDS = ("auth", "session", "profile", "contact", "messaging")
READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


class Child:
    """One `messenger serve <svc>` process, restarted if it dies on its own."""

    def __init__(self, service: str, env: dict[str, str], lock: DataDirLock) -> None:
        self.service = service
        self.env = env
        self.lock = lock
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            dying_with_parent(
                [sys.executable, "-m", "messenger", "serve", self.service],
                holding=self.lock.children_path,
            ),
            env=self.env,
            # Out of the terminal's process group: Ctrl-C reaches `up` alone, which then
            # stops the gateway, the services and NATS last, in that order.
            start_new_session=True,
        )
        log.info("service started", service=self.service, pid=self.process.pid)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("service did not stop in time; killing", service=self.service)
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


def child_environment(settings: Settings, nats_url: str) -> dict[str, str]:
    """The children's settings: this process's, plus the addresses `up` chose."""
    env = dict(os.environ)
    env["MESSENGER_DATA_DIR"] = str(settings.data_dir.resolve())
    env["MESSENGER_NATS_URL"] = nats_url
    env["MESSENGER_GATEWAY_HOST"] = settings.gateway_host
    env["MESSENGER_GATEWAY_PORT"] = str(settings.gateway_port)
    chosen = settings.model_fields_set
    for service in BACKENDS:
        field = f"{service}_addr"
        addr = getattr(settings, field) if field in chosen else f"127.0.0.1:{free_port()}"
        env[f"MESSENGER_{service.upper()}_ADDR"] = addr
    return env


ADDRESSES_FILE = "addresses.env"


def write_addresses_file(settings: Settings, env: dict[str, str]) -> Path:
    """Write the NATS URL and service addresses `up` chose to
    `$MESSENGER_DATA_DIR/addresses.env` (KEY=value lines), so that more instances can
    join this system: `env $(cat var/addresses.env) messenger serve gateway`."""
    keys = ["MESSENGER_NATS_URL", *(f"MESSENGER_{svc.upper()}_ADDR" for svc in BACKENDS)]
    path = settings.data_dir / ADDRESSES_FILE
    temp = path.with_name(f".{ADDRESSES_FILE}.tmp")
    temp.write_text("".join(f"{key}={env[key]}\n" for key in keys))
    os.replace(temp, path)
    return path


async def run_up(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(settings.data_dir)
    try:
        await lock.acquire()
    except DataDirInUseError as exc:
        raise SystemExit(f"messenger up: {exc}") from None
    nats: EmbeddedNats | None = None
    children: list[Child] = []
    try:
        nats_url = settings.nats_url
        if not nats_url:
            nats = EmbeddedNats(settings.data_dir / "nats", holding=lock.children_path)
            await nats.start()
            nats_url = nats.url
        await migrate_all(settings)
        env = child_environment(settings, nats_url)
        write_addresses_file(settings, env)
        children = [Child(service, env, lock) for service in (*BACKENDS, "gateway")]
        for child in children:
            child.start()
        await wait_until_ready(settings, children)
        print(f"Messenger is up: {settings.gateway_url}", flush=True)
        await supervise(children)
    finally:
        for child in reversed(children):
            await child.stop()
        if nats is not None:
            await nats.stop()
        lock.release()
        log.info("messenger stopped")


async def wait_until_ready(settings: Settings, children: list[Child]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            for child in children:
                if child.exited() is not None:
                    raise SystemExit(f"{child.service} exited with {child.exited()} at start-up")
            try:
                response = await client.get(f"{settings.gateway_url}/readyz")
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"the gateway was not ready within {READY_TIMEOUT_SECONDS:.0f} s")


async def supervise(children: list[Child]) -> None:
    """Restart a child that dies, with back-off, until `up` is stopped."""
    while True:
        await asyncio.sleep(0.5)
        for child in children:
            code = child.exited()
            if code is None:
                continue
            child.restarts += 1
            delay = min(2 ** min(child.restarts, 5) * 0.1, 5.0)
            log.error("service exited; restarting", service=child.service, code=code, delay=delay)
            await asyncio.sleep(delay)
            child.start()
