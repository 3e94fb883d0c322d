"""Acceptance 1: the README's run command, with nothing configured (no PostgreSQL, NATS,
Redis or SMTP), brings the gateway to /readyz 200 within 60 seconds on embedded NATS and
SQLite; and Ctrl-C (SIGTERM) stops every process it started."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from messenger.platform.process import free_port
from tests.e2e.harness import MESSENGER, System

pytestmark = [pytest.mark.e2e, pytest.mark.backend_neutral]

ROOT = Path(__file__).resolve().parents[2]


def readme_run_command() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    return str(blocks[0]).strip()


def test_readme_run_command_is_ready_within_60_seconds(tmp_path: Path) -> None:
    command = readme_run_command()
    assert command == "./scripts/up"
    system = System(tmp_path)
    seconds = system.start(command=["bash", "-c", command], cwd=ROOT)
    try:
        assert seconds < 60
        ready = httpx.get(f"{system.url}/readyz", timeout=5)
        assert ready.status_code == 200
        assert system.wait_for_log("Messenger is up: " + system.url, seconds=5)
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
    code = system.stop_gracefully()
    assert code == 0
    assert system.wait_for_children_gone(5), "processes of `messenger up` outlived it"
    log = system.log_path.read_text()
    assert "Traceback" not in log
    assert '"level": "error"' not in log


def test_a_second_up_on_the_same_data_dir_refuses(tmp_path: Path) -> None:
    system = System(tmp_path)
    system.start()
    try:
        env = {**system.environment(), "MESSENGER_GATEWAY_PORT": str(free_port())}
        second = subprocess.run(
            [MESSENGER, "up"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert second.returncode != 0
        assert "in use by another `messenger up`" in second.stderr
        assert httpx.get(f"{system.url}/readyz", timeout=5).status_code == 200
    finally:
        system.stop()
