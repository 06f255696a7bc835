"""One writer per store: an exclusive `flock` on `STORE/_writer.lock`, held until the process exits.

The kernel drops the lock when the holder dies, `kill -9` included, so a crashed collector never leaves
a store locked. The lock is per process, not per `Store` object: one command may open the same store
several times (samples, jobs, series), and those share the process's lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from gpufleet.core.errors import GpufleetError

LOCK_FILE = "_writer.lock"


class StoreLocked(GpufleetError):
    """Another process is writing this store."""


# Process-wide by design: flock locks belong to open files, and two opens of the same file in one process
# would refuse each other; this table lets every Store object of this process share the one lock.
_held: dict[Path, int] = {}
_guard = threading.Lock()


def acquire(root: Path) -> bool:
    """Take the writer lock of `root` for this process. True the first time (the caller then does start-up
    work: upgrade, cleanup), False when this process already holds it. StoreLocked names the holder's PID."""
    key = root.resolve()
    with _guard:
        if key in _held:
            return False
        path = key / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"store {root} is being written by another process (pid {holder}); one writer at a time"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = fd
        return True


def release(root: Path) -> None:
    """Let go of the lock early (tests, a command that finished writing); the exit releases it anyway."""
    with _guard:
        fd = _held.pop(root.resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock
