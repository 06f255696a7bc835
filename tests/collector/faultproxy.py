"""A fault-injecting HTTP proxy in front of a real Prometheus: each request takes the next action from a
script ("ok", "500", "503", "slow", "garbage", "drop", "shape"); when the script runs out, requests pass through.
This is how a flaky network or an overloaded Prometheus looks to the collector; the server behind it is
the real one."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def fault_proxy(upstream: str, script: list[str], slow_s: float = 3.0) -> Iterator[tuple[str, list[str]]]:
    """Yields (proxy URL, the actions taken so far)."""
    lock = threading.Lock()
    taken: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            with lock:
                action = script.pop(0) if script else "ok"
                taken.append(action)
            if action in ("500", "503"):
                body = b'{"status":"error","errorType":"internal","error":"injected fault"}'
                self.send_response(int(action))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if action == "shape":  # valid JSON, a success, but not the shape any Prometheus answers with
                body = b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":7}]}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if action == "drop":  # the connection closes without an answer
                self.close_connection = True
                return
            if action == "slow":
                time.sleep(slow_s)
            try:
                with urllib.request.urlopen(upstream + self.path, timeout=60) as r:
                    status, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "application/json")
            except urllib.error.HTTPError as e:
                status, body, ctype = e.code, e.read(), "application/json"
            if action == "garbage":
                body = body[: len(body) // 2]  # a truncated answer: not JSON
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (slow)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", taken
    finally:
        server.shutdown()
        server.server_close()
