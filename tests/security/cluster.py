"""`messenger up` plus extra `messenger serve` instances, and direct reads of the
databases they share (to scan for secrets and to forge tokens with the real key)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import MetaData, select

from messenger.platform.config import Settings
from messenger.platform.db import create_engine, database_url, dispose_engine
from messenger.platform.process import free_port
from messenger.session import store as session_store
from tests.e2e.harness import MESSENGER, READY_SECONDS, System

MAX_FAILURES = 3
WINDOW_SECONDS = 3


class Instance:
    """One more `messenger serve <svc>` joining a running system."""

    def __init__(self, service: str, env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['MESSENGER_GATEWAY_PORT']}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [MESSENGER, "serve", self.service],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service} exited:\n{self.log_path.read_text()}")
            if self._ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.service} not ready:\n{self.log_path.read_text()}")

    def _ready(self) -> bool:
        if self.service == "gateway":
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        host, _, port = self.env[f"MESSENGER_{self.service.upper()}_ADDR"].rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


class Cluster(System):
    """Throttling: 3 failed logins per account within 3 s; per address far more, so
    that the tests (all from 127.0.0.1) do not throttle each other."""

    def __init__(self, root: Path, *, database_url: str | None = None) -> None:
        super().__init__(root, database_url=database_url)
        self.second_auth: Instance
        self.second_gateway: Instance

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["MESSENGER_LOGIN_MAX_FAILURES"] = str(MAX_FAILURES)
        env["MESSENGER_LOGIN_FAILURE_WINDOW_SECONDS"] = str(WINDOW_SECONDS)
        env["MESSENGER_LOGIN_MAX_FAILURES_PER_ADDRESS"] = "100000"
        return env

    def joined_environment(self, **overrides: str) -> dict[str, str]:
        """What another machine needs: the operator's settings plus addresses.env."""
        env = self.environment()
        for line in (self.data_dir / "addresses.env").read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        env.update(overrides)
        return env

    def start(self, command: list[str] | None = None, cwd: Path | None = None) -> float:
        took = super().start(command, cwd)
        auth_addr = f"127.0.0.1:{free_port()}"
        self.second_auth = Instance(
            "auth",
            self.joined_environment(MESSENGER_AUTH_ADDR=auth_addr),
            self.root / "auth2.log",
        )
        self.second_gateway = Instance(
            "gateway",
            self.joined_environment(
                MESSENGER_AUTH_ADDR=auth_addr, MESSENGER_GATEWAY_PORT=str(free_port())
            ),
            self.root / "gateway2.log",
        )
        try:
            self.second_auth.start()
            self.second_gateway.start()
        except BaseException:
            self.stop()
            raise
        return took

    def stop(self) -> int | None:
        """A power cut: graceful shutdown is not what this suite tests, and is slower."""
        for extra in ("second_gateway", "second_auth"):
            instance: Instance | None = getattr(self, extra, None)
            if instance is not None:
                instance.kill()
        self.kill()
        if self.process is None:
            return None
        return self.process.returncode

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            _env_file=None,  # type: ignore[call-arg]
        )

    def rotate_keys(self) -> str:
        """`messenger rotate-keys` as an operator runs it; returns the new kid."""
        done = subprocess.run(
            [MESSENGER, "rotate-keys"],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip().rsplit(" ", 1)[-1]


async def dump_rows(settings: Settings, service: str) -> str:
    """Every value of every table of a service's database (reflected, so nothing is
    missed), as one string to search for secrets."""
    engine = create_engine(database_url(settings, service))
    try:
        async with engine.connect() as conn:
            metadata = MetaData()
            await conn.run_sync(metadata.reflect)
            parts = [
                repr(tuple(row))
                for table in metadata.sorted_tables
                for row in await conn.execute(select(table))
            ]
    finally:
        await dispose_engine(engine)
    return "\n".join(parts)


async def signing_keys(settings: Settings) -> list[dict[str, Any]]:
    """The session store's keys, newest first: what an attacker holding a copy of the
    database would have (the tests use them to sign tokens with wrong claims)."""
    engine = create_engine(database_url(settings, "session"))
    try:
        async with engine.connect() as conn:
            t = session_store.signing_keys
            rows = await conn.execute(select(t).order_by(t.c.generation.desc()))
            return [dict(row._mapping) for row in rows]
    finally:
        await dispose_engine(engine)
