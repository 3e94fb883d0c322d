"""`python -m messenger.platform.deathsig PARENT_PID LOCK_FILE|- PROGRAM ARGS...`

Asks Linux to send SIGTERM to this process when its parent dies, takes a shared lock on
LOCK_FILE (kept across exec, so it lasts exactly as long as PROGRAM), then execs
PROGRAM. This replaces a `preexec_fn`, which would force a plain fork() of a parent that
may be running gRPC threads: a fork that gRPC can abort.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main() -> None:
    parent, lock_file, program = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(1)  # the parent died before the request took effect
    if lock_file != "-":
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.set_inheritable(fd, True)
    os.execv(program[0], program)


if __name__ == "__main__":
    main()
