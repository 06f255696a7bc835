"""Shared fixtures: the real-trace root (tests that need it skip with a reason when it is absent), and the
session check that nothing a test started outlives the run: no process, no listening socket."""

from __future__ import annotations

import gc
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _data_dir() -> Path | None:
    from gpufleet.core.datadir import find_data_dir  # the CLI's and the dashboard's rule

    found, _ = find_data_dir()
    return found if found is not None and found.is_dir() else None


DATA_DIR = _data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of ../shared/traces; skips the test when it is not on this machine."""
    if DATA_DIR is None:
        pytest.skip("real traces not found: set GPUFLEET_DATA to the shared/traces folder")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Readers resolve the root from GPUFLEET_DATA; pin it so tests do not depend on the caller's shell.
    if DATA_DIR is not None:
        monkeypatch.setenv("GPUFLEET_DATA", str(DATA_DIR))


# --- Nothing a test starts outlives the run -------------------------------------------------------------------
# Each pytest process (each xdist worker too) tags its environment; every process a test starts inherits the tag,
# so one that was orphaned (its parent exited, it was re-parented to init) is still found at the end.
_TAG_KEY = "GPUFLEET_TEST_RUN"
_TAG = f"{_TAG_KEY}={os.getpid()}-{uuid.uuid4().hex[:8]}".encode()
os.environ[_TAG_KEY] = _TAG.split(b"=", 1)[1].decode()
# The standard library's multiprocessing resource tracker (started by the spawn pools of parallel grids) lives
# until the interpreter exits, by design: it is no test's to stop.
_ALLOWED = ("from multiprocessing.resource_tracker import main",)
_GRACE_S = 10.0  # a process that was just sent SIGTERM may take a moment to go
# (first, last boot-clock tick, test id) of each test: names the test behind a leak (/proc gives start ticks)
_RUNS: list[tuple[int, int, str]] = []


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # the process ended while we looked, or is not ours to read
        return b""


def _stat(pid: str) -> tuple[int, str, int] | None:
    """(ppid, state, start tick on the boot clock) of a process, None if it is gone."""
    raw = _read(f"/proc/{pid}/stat")
    if not raw:
        return None
    fields = raw.rsplit(b")", 1)[1].split()  # the command name in parentheses may hold spaces
    return int(fields[1]), fields[0].decode(), int(fields[19])


def _left_alive() -> dict[int, tuple[str, int]]:
    """Live processes this pytest process started (children, grandchildren, tagged orphans): pid → (cmd, start)."""
    me = os.getpid()
    procs = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p)) is not None}
    ours = {pid for pid in procs if _TAG in _read(f"/proc/{pid}/environ").split(b"\0")}
    grew = True
    while grew:  # descendants by parent id: children that were started with an environment of their own
        more = {pid for pid, (ppid, _, _) in procs.items() if ppid in ours or ppid == me} - ours
        ours |= more
        grew = bool(more)
    found = {}
    for pid in ours - {me}:
        _, state, start = procs[pid]
        cmd = _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
        if state not in ("Z", "X") and not any(a in cmd for a in _ALLOWED):  # a zombie runs nothing
            found[pid] = (cmd, start)
    return found


def _listening_sockets() -> dict[int, int]:
    """TCP sockets this process holds open in the listening state: inode → port."""
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in _read(table).splitlines()[1:]:
            cols = line.split()
            if cols[3] == b"0A":  # TCP_LISTEN
                listening[int(cols[9])] = int(cols[1].rsplit(b":", 1)[1], 16)
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            held.add(int(link[8:-1]))
    return {inode: port for inode, port in listening.items() if inode in held}


def _tick() -> int:
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def _started_during(start: int) -> str:
    tests = [nodeid for first, last, nodeid in _RUNS if first <= start <= last]  # a tick may hold several tests
    return " or ".join(tests[:3]) + (" ..." if len(tests) > 3 else "") if tests else "no test (a fixture?)"


def pytest_runtest_logstart(nodeid: str) -> None:
    _RUNS.append((_tick(), _tick(), nodeid))


def pytest_runtest_logfinish(nodeid: str) -> None:
    if _RUNS and _RUNS[-1][2] == nodeid:
        _RUNS[-1] = (_RUNS[-1][0], _tick(), nodeid)


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_running() -> Iterator[None]:
    # Session-scoped and autouse in the root conftest: set up first, so torn down last, after every other
    # fixture (a shared Prometheus, a demo run) has stopped what it started. Per pytest process (xdist worker).
    before = _listening_sockets()
    yield
    deadline = time.monotonic() + _GRACE_S
    while (alive := _left_alive()) and time.monotonic() < deadline:
        time.sleep(0.2)
    gc.collect()  # a server object nobody references any more closes its socket when collected
    sockets = {i: port for i, port in _listening_sockets().items() if i not in before}
    if alive or sockets:
        lines = [f"pid {pid} (started during {_started_during(s)}): {cmd}" for pid, (cmd, s) in sorted(alive.items())]
        lines += [
            f"port {port} still listening in the pytest process (socket inode {i})" for i, port in sockets.items()
        ]
        pytest.fail("tests left processes or listening sockets behind:\n  " + "\n  ".join(lines), pytrace=False)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo run shared by the dashboard and report tests of a worker (a run takes ~40 s)."""
    from gpufleet.plan.demo import run_demo

    out = tmp_path_factory.mktemp("runs") / "demo"
    run_demo(out, progress=False)
    return out
