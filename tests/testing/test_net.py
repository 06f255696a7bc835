"""wait_http: returns once a server answers, fails fast when its process dies, and times out."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from gpufleet.testing.net import free_port, wait_http

pytestmark = pytest.mark.integration  # a real HTTP server and a real child process


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ready: DCGM_FI_DEV_GPU_UTIL" if self.path == "/metrics" else b"ok"
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_waits_for_an_answer_and_its_content() -> None:
    srv = HTTPServer(("127.0.0.1", free_port()), _Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}"
        assert wait_http(f"{url}/ready", timeout_s=10) >= 0.0
        assert wait_http(f"{url}/metrics", contains=b"DCGM_FI_DEV_GPU_UTIL", timeout_s=10) >= 0.0
        with pytest.raises(RuntimeError, match="did not answer"):
            wait_http(f"{url}/ready", contains=b"never there", timeout_s=0.5, what="test server")
    finally:
        srv.shutdown()


def test_fails_as_soon_as_the_server_process_has_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(RuntimeError, match=r"exporter exited \(code 3\)"):
        wait_http(f"http://127.0.0.1:{free_port()}/x", proc=proc, timeout_s=30, what="exporter")
