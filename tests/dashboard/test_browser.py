"""The dashboard in a real browser: `gpufleet dashboard` on the demo's runs, every page loaded in Debian's
chromium (headless) by playwright-core from npm; charts must render, and no page may show an exception, an
object's repr or docstring in its rendered text, or Streamlit's Deploy button.
Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.chromium import CHROMIUM, ROOT, TOOLS, browser_tools

from gpufleet.testing.net import free_port, wait_http

pytestmark = pytest.mark.integration
PAGES = ["fleet", "workloads", "cost", "forecasts", "whatif", "autoscaling"]


def test_every_page_renders_in_chromium(demo: Path) -> None:
    browser_tools()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpufleet.cli", "dashboard", "--runs", str(demo.parent), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    out = ROOT / "test-artifacts" / "dashboard"
    out.mkdir(parents=True, exist_ok=True)
    try:
        wait_http(f"{base}/_stcore/health", proc=proc, timeout_s=90, what="the dashboard")
        script = ROOT / "tests" / "dashboard" / "browser.mjs"
        # node resolves playwright-core from the script's folder upwards: run a copy inside the tools folder
        shutil.copy(script, TOOLS / "browser.mjs")
        res = subprocess.run(
            ["node", str(TOOLS / "browser.mjs"), base, str(out), *PAGES],
            capture_output=True,
            text=True,
            timeout=600,
            env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin", "HOME": str(TOOLS)},
        )
        assert res.returncode == 0, res.stderr[-2000:]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # stopping `gpufleet dashboard` stops the server too (it used to orphan Streamlit, still listening)
    with socket.socket() as s, contextlib.suppress(OSError):
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the dashboard still listens after its command was stopped"
    results = {r["page"]: r for r in map(json.loads, res.stdout.strip().splitlines())}
    assert set(results) == set(PAGES)
    for name, r in results.items():
        assert not r["errors"], (name, r["errors"])
        assert not r["stray"], (name, r["stray"])  # no object repr or docstring written on the page
        assert r["deploy"] == 0, name  # `gpufleet dashboard` hides Streamlit's Deploy button
        assert r["title"], name
        assert (out / f"{name}.png").stat().st_size > 10_000, name
    expected = {"fleet": 3, "workloads": 0, "cost": 1, "forecasts": 1, "whatif": 0, "autoscaling": 1}
    for name, n in expected.items():
        assert results[name]["charts"] >= n, (name, results[name])
