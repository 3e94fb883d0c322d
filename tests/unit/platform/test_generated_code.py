"""The committed protobuf code must be exactly what `scripts/gen_protos.py` makes now."""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec is not None
    assert spec.loader is not None
    gen_protos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_protos)
    fresh = tmp_path / "pb"
    gen_protos.generate(fresh)

    committed = ROOT / "src" / "messenger" / "pb"
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    committed_files = {
        p.relative_to(committed)
        for p in committed.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert fresh_files == committed_files, "run `python scripts/gen_protos.py`"
    stale = [
        str(f)
        for f in sorted(fresh_files)
        if not filecmp.cmp(fresh / f, committed / f, shallow=False)
    ]
    assert not stale, f"stale generated code {stale}: run `python scripts/gen_protos.py`"
