"""`python -m messenger.platform.deathsig PARENT_PID PROGRAM ARGS...`

Asks Linux to send SIGTERM to this process when its parent dies, then execs PROGRAM (the
request survives exec). This replaces a `preexec_fn`, which would force a plain fork()
of a parent that may be running gRPC threads: a fork that gRPC can abort.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main() -> None:
    parent, program = int(sys.argv[1]), sys.argv[2:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(1)  # the parent died before the request took effect
    os.execv(program[0], program)


if __name__ == "__main__":
    main()
