"""The README's "Talk to it" example, run as written against a running system: the
curl walk-through a new user copies must keep working."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import System

pytestmark = [pytest.mark.e2e, pytest.mark.backend_neutral]

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", readme, flags=re.S) if "API=" in b]
    assert len(blocks) == 1
    return str(blocks[0])


def test_readme_example_runs_against_the_system(tmp_path: Path) -> None:
    system = System(tmp_path)
    system.start()
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", readme_example()],
            env={
                **system.environment(),
                "API": f"{system.url}/v1",
                "MAIL": str(system.data_dir / "mail"),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        system.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    # curl prints each answer with no newline: the last JSON document is the history.
    history = json.loads(result.stdout[result.stdout.rindex('{"messages"') :])
    assert [m["text"] for m in history["messages"]] == ["hello 👋"]
