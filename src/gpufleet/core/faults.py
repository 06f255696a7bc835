"""Crash points a fault-injection test can arm: the process kills itself (SIGKILL) at a named step.

`GPUFLEET_CRASH_AT=store.append.before-commit:3` kills the process the third time it reaches that point
(`:1` when no count is given). Nothing happens when the variable is unset, so production pays one
environment lookup per point. A real SIGKILL, not an exception: no `finally`, no flush, no atexit run,
exactly what `kill -9`, the OOM killer or a node loss does to a writer.
"""

from __future__ import annotations

import os
import signal

ENV = "GPUFLEET_CRASH_AT"
_seen: dict[str, int] = {}  # per process: how often each armed point was reached


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if `name` is the armed point and this is the armed occurrence."""
    armed = os.environ.get(ENV)
    if not armed:
        return
    point, _, nth = armed.partition(":")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
