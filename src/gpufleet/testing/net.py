"""Local-server helpers shared by what starts a server and waits for it in tests and benchmarks: Prometheus,
the dashboard, the hook, the exporter."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str,
    *,
    proc: subprocess.Popen[Any] | None = None,
    timeout_s: float = 60.0,
    contains: bytes | None = None,
    what: str = "server",
) -> float:
    """Poll `url` until it answers 200 (and its body holds `contains`, when given); the seconds that took.

    Raises RuntimeError naming `what` as soon as `proc` has exited (no point waiting for a dead server) or
    when `timeout_s` passes."""
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and (contains is None or contains in r.read()):
                    return time.monotonic() - t0
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited (code {proc.returncode}) before {url} answered")
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"{what} did not answer {url} within {timeout_s:.0f} s")
        time.sleep(0.2)


def stop_process(proc: subprocess.Popen[Any], grace_s: float = 20.0) -> None:
    """Stop a server the test started: SIGTERM (a clean shutdown, its exit code then means something), and
    SIGKILL if it has not exited within `grace_s`. Nothing when it has already exited."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
