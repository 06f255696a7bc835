"""`gpufleet dashboard` as a user starts it: the command becomes Streamlit (exec, same PID), so a SIGTERM to the
PID the user started stops the server itself, with nothing left listening; it passes the trace folder and a
viewer's toolbar (no Deploy button) to Streamlit; a --data-dir that is not there is one line before any server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.testing.net import free_port, wait_http


def _children(pid: int) -> list[int]:
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if int(Path(f"/proc/{p}/stat").read_bytes().rsplit(b")", 1)[1].split()[1]) == pid:
                out.append(int(p))
    return out


@pytest.mark.integration  # starts the real server
def test_the_command_becomes_streamlit_and_stops_on_sigterm(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    port = free_port()
    cmd = [sys.executable, "-m", "gpufleet.cli", "--data-dir", str(traces), "dashboard", "--runs", str(tmp_path)]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc=proc, timeout_s=90, what="the dashboard")
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode().split("\0")
        # the PID we started is Streamlit itself, not a gpufleet process waiting on a Streamlit child
        assert argv[1:4] == ["-m", "streamlit", "run"], argv
        assert not _children(proc.pid)
        assert argv[argv.index("--client.toolbarMode") + 1] == "minimal"  # no Deploy button
        assert argv[argv.index("--server.port") + 1] == str(port)
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert f"GPUFLEET_DATA={traces.resolve()}".encode() in environ  # the pages find the traces as the CLI did
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the dashboard still listens after SIGTERM to its PID"


def test_a_missing_data_dir_is_one_line_before_any_server(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "nope"), "dashboard", "--port", str(free_port())])
    assert r.exit_code == 2
    want = f"error: data directory {tmp_path / 'nope'} does not exist (from --data-dir)"
    assert r.stderr.strip().splitlines() == [want]
