"""Series forecasting under the independent protocols (issue #20): genai-a and helios-b, and ServeGen 1 h ahead.

Runs through the CLI so the printed tables are exactly what a user gets. `--shift` runs the validation
version (origins wholly before the test origins: 8 strides for genai-a, 7 for helios-b), where auto's rule
and members were chosen. Needs GPUFLEET_DATA. Costs ~15 min on 2 cores (LightGBM refits at every origin).
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_series_protocols.py [--validation]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GPUFLEET = str(Path(sys.executable).with_name("gpufleet"))
MODELS = "lightgbm,lightgbm-direct,auto"
RUNS = [
    ["backtest", "series", "--protocol", "genai-a", "--data", "genai:duty-cycle", "--models", MODELS],
    ["backtest", "series", "--protocol", "helios-b", "--data", "helios:earth", "--models", MODELS],
    ["backtest", "series", "--data", "servegen:m-mid", "--models", MODELS, "--horizon", "1h", "--origins", "6"],
    ["backtest", "series", "--data", "servegen:m-small", "--models", MODELS, "--horizon", "1h", "--origins", "6"],
]
VALIDATION = {"genai-a": "8", "helios-b": "7"}


def run(args: list[str]) -> None:
    """One CLI command, its output and its wall time."""
    print(f"\n$ gpufleet {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run([GPUFLEET, *args], check=True, env=os.environ | {"COLUMNS": "160"})
    print(f"({time.perf_counter() - t0:.1f} s)", flush=True)


def main() -> None:
    """Every run, one after another."""
    if not os.environ.get("GPUFLEET_DATA"):
        print("GPUFLEET_DATA not set: skipping the series protocol benchmark")
        return
    for args in RUNS:
        if "--validation" in sys.argv:
            if "--protocol" not in args:
                continue
            args = [*args, "--shift", VALIDATION[args[args.index("--protocol") + 1]]]
        run(args)


if __name__ == "__main__":
    main()
