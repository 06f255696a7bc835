"""Keep a native library's panic report off the terminal while its error comes back to Python.

delta-rs (Rust) prints a worker thread's panic ("thread 'tokio-rt-worker' panicked at ... Already shut down",
plus a backtrace under RUST_BACKTRACE) straight to file descriptor 2 when a write fails half-way, e.g. on a
full disk, and then raises the real cause to Python. The user should see that cause on one line, not five
lines of Rust internals. So during a library call fd 2 goes to a temporary file; afterwards everything in it
that is not part of a panic report (other threads' logging) is passed on, in order.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_PANIC_START = re.compile(r"^thread '.*' \(?\d*\)? ?panicked at ")
_PANIC_BODY = re.compile(r"^(note: |stack backtrace:|\s+\d+: |\s+at )")
_lock = threading.Lock()  # fd 2 is one per process: one capture at a time


@contextmanager
def captured() -> Iterator[list[str]]:
    """Capture fd 2 for the duration; yields the list that receives the dropped panic lines."""
    dropped: list[str] = []
    with _lock, tempfile.TemporaryFile(mode="w+b") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield dropped
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            keep = _without_panics(tmp.read().decode(errors="replace"), dropped)
            if keep:
                sys.stderr.write(keep)
                sys.stderr.flush()


def _without_panics(text: str, dropped: list[str]) -> str:
    out: list[str] = []
    state = "out"  # "start": the line after "panicked at" is the panic's message; "body": notes, frames
    for line in text.splitlines(keepends=True):
        if _PANIC_START.match(line):
            state = "start"
        elif state == "start":
            state = "body"
        elif state == "body" and not _PANIC_BODY.match(line):
            state = "out"
        (out if state == "out" else dropped).append(line)
    return "".join(out)
