"""How big each install is (issue #24: "measure and document the slim environment's size"): the wheel built from
the checkout, then one fresh virtual environment per extra made as the image makes it (tools/image-venv.sh:
the hashed lock's pins, then gpufleet[EXTRA] from the wheel offline), next to the development environment.
Prints a markdown table: size on disk (`du -sb`), with and without the bytecode the images compile, and the
number of installed distributions. Needs uv on PATH (and PyPI or uv's cache).

    .venv/bin/python bench/exp_env_sizes.py [--dev .venv] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("hook", "collector", "dashboard", "all")


def sh(*cmd: str | Path, env: dict[str, str] | None = None) -> str:
    """Run a command; its stdout, or its stderr in the error."""
    import os

    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=os.environ | (env or {}))
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))}: {proc.stderr[-2000:]}")
    return proc.stdout


def size_mb(path: Path) -> float:
    """Apparent size of a tree in MB (10^6 bytes), hard links to uv's cache counted as files here."""
    return int(sh("du", "-sb", path).split()[0]) / 1e6


def dists(venv: Path) -> int:
    """Installed distributions (gpufleet included)."""
    return len(list(venv.glob("lib/python3*/site-packages/*.dist-info")))


def lock_for(extra: str, tmp: Path) -> Path:
    """locks/EXTRA.lock, or for `all` (no image installs it) one compiled the same way into `tmp`."""
    if extra != "all":
        return ROOT / "locks" / f"{extra}.lock"
    out = tmp / "all.lock"
    sh(
        "uv", "pip", "compile", "-q", ROOT / "pyproject.toml", "--extra", "all", "-c", ROOT / "requirements.lock",
        "--generate-hashes", "--python-version", "3.11", "-o", out,
    )  # fmt: skip
    return out


def main() -> None:
    """Build, install, measure, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", type=Path, default=ROOT / ".venv", help="the development environment to measure")
    ap.add_argument("--keep", type=Path, help="make the environments here and keep them (default: a temp dir)")
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="gpufleet-sizes-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        sh("uv", "build", "-q", "--wheel", "--out-dir", tmp / "dist", ROOT)
        (wheel,) = (tmp / "dist").glob("gpufleet-*.whl")
        python = getattr(sys, "_base_executable", sys.executable)
        rows = []
        for extra in EXTRAS:
            venv = tmp / extra
            shutil.rmtree(venv, ignore_errors=True)
            sh("sh", ROOT / "tools" / "image-venv.sh", venv, extra, wheel, lock_for(extra, tmp), env={"PYTHON": python})
            plain = size_mb(venv)
            sh(python, "-m", "compileall", "-q", "-j", "0", venv / "lib")  # what UV_COMPILE_BYTECODE adds in the image
            rows.append((f"`gpufleet[{extra}]`", plain, size_mb(venv), dists(venv)))
        rows.append((f"development ({args.dev.name}: dev, ray, all)", size_mb(args.dev), None, dists(args.dev)))
        print("| environment | size MB | with bytecode MB | distributions |")
        print("|---|---:|---:|---:|")
        for name, plain, compiled, n in rows:
            print(f"| {name} | {plain:,.0f} | {'-' if compiled is None else f'{compiled:,.0f}'} | {n} |")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
