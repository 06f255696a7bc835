"""Forecasting figures for docs/results.md (issue #4): runtime backtests on Philly and every ITP cluster,
their effect on SJF/QSSF through the simulator, and 1-hour series backtests on the real series.

Runs through the CLI so the printed tables are exactly what a user gets. Needs GPUFLEET_DATA.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GPUFLEET = str(Path(sys.executable).with_name("gpufleet"))
RUNTIME = ["philly:jobs"] + [f"itp:cluster{c}" for c in ("01", "02", "04", "05", "06", "07", "09")]
SERIES = [
    ["genai:duty-cycle"],
    ["helios:earth"],
    ["servegen:m-small"],
    ["philly:busy-servers"],
]


def run(args: list[str]) -> None:
    """One CLI command, its output and its wall time."""
    print(f"\n$ gpufleet {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run([GPUFLEET, *args], check=True, env=os.environ | {"COLUMNS": "150"})
    print(f"({time.perf_counter() - t0:.1f} s)", flush=True)


def main() -> None:
    """Every backtest, one after another."""
    if not os.environ.get("GPUFLEET_DATA"):
        print("GPUFLEET_DATA not set: skipping the forecasting benchmark")
        return
    for ref in RUNTIME:
        run(["backtest", "runtime", "--data", ref, "--models", "user-history,lightgbm,oracle"])
    for ref in SERIES:
        run(
            [
                "backtest",
                "series",
                "--data",
                *ref,
                "--models",
                "seasonal-naive,prophet,lightgbm",
                "--horizon",
                "1h",
                "--origins",
                "6",
            ]
        )


if __name__ == "__main__":
    main()
