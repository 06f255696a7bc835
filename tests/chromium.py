"""What the browser tests need, found once: Debian's chromium and playwright-core (from npm, under .cache/browser),
each test skipping with the reason when one is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".cache" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def browser_tools(need_node: bool = False) -> Path:
    """playwright-core's folder (make system-deps installs it; installed here when missing); skip without
    chromium (or node, when the test runs a script of its own)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian package 'chromium' not installed (make test / .ci/run install it with apt-get)")
    if need_node and shutil.which("node") is None:
        pytest.skip("node not installed: it runs playwright-core")
    mod = TOOLS / "node_modules" / "playwright-core"
    if not mod.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm not installed: cannot get playwright-core for the browser test")
        TOOLS.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(
            ["npm", "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "playwright-core@1"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if r.returncode != 0:
            pytest.skip(f"npm could not install playwright-core: {r.stderr.strip().splitlines()[-1:]}")
    return mod
