"""Forecasting figures for docs/results.md (issues #4, #20): runtime backtests across the ITP clusters
(leave-one-out) and on Philly, their effect on FIFO/SJF/QSSF through the simulator (5 nudged replays),
each trace on its own past without replays, and 1-hour series backtests on the real series.

Runs through the CLI so the printed tables are exactly what a user gets. Needs GPUFLEET_DATA.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GPUFLEET = str(Path(sys.executable).with_name("gpufleet"))
MODELS = "user-history,lightgbm,xgb-aft,auto"  # gpu-class is added as a baseline by the command
RUNTIME = [
    ["--data", "itp:*", "--scheme", "leave-one-out"],
    ["--data", "philly:jobs"],
    ["--data", "itp:*,philly:jobs", "--scheme", "time", "--no-sim"],
]
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
    for args in RUNTIME:
        run(["backtest", "runtime", *args, "--models", MODELS])
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
