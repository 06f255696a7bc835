"""Collector benchmark (issue #7): 1,000 GPUs x 24 h at a 30 s scrape interval (2.88 M samples per metric,
utilization, memory and power) backfilled into a real Prometheus, then pulled into a store by
`gpufleet collect prometheus` in its own process: wall time and peak memory of the pull (goal <= 60 s,
<= 1.5 GiB). Needs the Debian prometheus package (make test installs it); skipped without it.
Usage: python bench/bench_collector.py [--gpus 1000 --hours 24]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=24.0)
    args, _ = ap.parse_known_args()
    from gpufleet.collector.openmetrics import write_openmetrics
    from gpufleet.collector.promserver import backfill, have_prometheus, prometheus
    from gpufleet.traces import load

    if not have_prometheus():
        print("prometheus/promtool not installed: collector benchmark skipped")
        return 0
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        t0 = time.perf_counter()
        samples = load("synthetic:gpu-samples", n_gpus=args.gpus, hours=args.hours, interval_s=30).frame
        n = write_openmetrics(samples, root / "h.om")
        start, end = samples["ts"].min(), samples["ts"].max()
        del samples
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        backfill(root / "h.om", root / "tsdb")
        t_fill = time.perf_counter() - t0
        (root / "h.om").unlink()
        with prometheus(root / "tsdb") as url:
            # the pull runs in its own process, which reports its own peak memory (promtool and the server
            # are children of this process too, so RUSAGE_CHILDREN would mix them in)
            runner = (
                "import resource, sys\nfrom gpufleet.cli import app\n"
                "try:\n    app(sys.argv[1:], standalone_mode=False)\n"
                "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
            )
            cmd = [
                sys.executable,
                "-c",
                runner,
                "collect",
                "prometheus",
                "--url",
                url,
                "--store",
                str(root / "store"),
                "--since",
                start.isoformat(),
                "--until",
                end.isoformat(),
                "--step",
                "30s",
                "--chunk",
                "1h",
                "--json",
            ]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
        peak = int(out.stderr.strip().splitlines()[-1]) / 2**20  # GiB (ru_maxrss is KiB)
        res = json.loads(out.stdout)
        print(
            f"collector: {args.gpus} GPUs x {args.hours:g} h at 30 s = {n / 3:,.0f} samples per metric ({n:,} in all)"
        )
        print(f"  generate + OpenMetrics {t_gen:.1f} s, promtool backfill {t_fill:.1f} s")
        print(
            f"  pull into the store: {wall:.1f} s, peak memory {peak:.2f} GiB (the collecting process),"
            f" {res['rows_written']:,} rows, {res['chunks']} chunks, {res['queries']} queries"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
