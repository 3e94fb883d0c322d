"""Acceptance 1: the README's run command, with nothing configured (no PostgreSQL, NATS,
Redis or SMTP), brings the gateway to /readyz 200 within 60 seconds on embedded NATS and
SQLite; and Ctrl-C (SIGTERM) stops every process it started."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import System

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def readme_run_command() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    return blocks[0].strip()


def test_readme_run_command_is_ready_within_60_seconds(tmp_path: Path) -> None:
    command = readme_run_command()
    assert command == "./scripts/up"
    system = System(tmp_path)
    seconds = system.start(command=["bash", "-c", command], cwd=ROOT)
    try:
        assert seconds < 60
        ready = httpx.get(f"{system.url}/readyz", timeout=5)
        assert ready.status_code == 200
        assert "Messenger is up: " + system.url in system.log_path.read_text()
        for service in ("auth", "session", "profile", "contact", "messaging"):
            assert (system.data_dir / f"{service}.db").exists()
        assert (system.data_dir / "nats" / "nats-server.conf").exists()
        assert (
            "sync_interval: always" in (system.data_dir / "nats" / "nats-server.conf").read_text()
        )
    finally:
        code = system.stop_gracefully()
    assert code == 0


def test_sigterm_stops_every_child(tmp_path: Path) -> None:
    system = System(tmp_path)
    system.start()
    assert system.process is not None
    group = system.process.pid
    code = system.stop_gracefully()
    assert code == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("processes of `messenger up` outlived it")
