"""`make bench`: run every benchmark in bench/ in its own process and print their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    """Run bench_*.py one after another; a failure fails the whole run."""
    rc = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name}", flush=True)
        rc |= subprocess.call([sys.executable, str(script), *sys.argv[1:]])
    return rc


if __name__ == "__main__":
    sys.exit(main())
