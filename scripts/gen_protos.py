"""Regenerate src/messenger/pb/ from proto/ — the one command for generated code.

    python scripts/gen_protos.py            # rewrite src/messenger/pb
    python scripts/gen_protos.py --out DIR  # write elsewhere (the staleness test does)

`proto/messenger/<svc>/v1/<svc>.proto` is mapped to the import path
`messenger/pb/<svc>/v1/`, so generated modules import each other as `messenger.pb...`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto" / "messenger"
TARGET = ROOT / "src" / "messenger" / "pb"


def generate(out: Path) -> None:
    """Write the generated package (with its __init__.py files) into `out`."""
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise SystemExit("no .proto files under proto/messenger")
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-Imessenger/pb={PROTO_ROOT}",
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_out={tmp}",
            f"--mypy_grpc_out={tmp}",
            *(str(p) for p in protos),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        generated = Path(tmp) / "messenger" / "pb"
        for folder in [generated, *(p for p in generated.rglob("*") if p.is_dir())]:
            (folder / "__init__.py").touch()
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(generated, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=TARGET)
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
