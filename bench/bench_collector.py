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
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.testing.prometheus import backfill, have_prometheus, prometheus
    from gpufleet.traces.synthetic.config import SyntheticSamplesConfig
    from gpufleet.traces.synthetic.samples import synthetic_gpu_samples

    if not have_prometheus():
        print("prometheus/promtool not installed: collector benchmark skipped")
        return 0
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        t0 = time.perf_counter()
        # the synthetic default fleet has 432 GPUs: lay the samples on a fleet of 8-GPU A100 nodes big enough
        nodes = parse_spec(f"{-(-args.gpus // 8)}x8:A100")
        cfg = SyntheticSamplesConfig(n_gpus=args.gpus, hours=args.hours, interval_s=30)
        # the three DCGM metrics of the first measurement (utilization, framebuffer, power), so figures compare
        samples = synthetic_gpu_samples(cfg, nodes).drop("temp_c", "sm_clock_mhz", "xid_errors")
        n = write_openmetrics(samples, root / "h.om")
        start, end = samples["ts"].min(), samples["ts"].max()
        del samples
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        backfill(root / "h.om", root / "tsdb")
        t_fill = time.perf_counter() - t0
        (root / "h.om").unlink()
        with prometheus(root / "tsdb") as url:
            # the pull runs in its own process, which reports its own peak memory: VmHWM of its address space
            # (ru_maxrss would carry over this process's size from before the exec, and RUSAGE_CHILDREN would
            # mix in promtool and the server)
            runner = (
                "import re, sys\nfrom gpufleet.cli import app\n"
                "try:\n    app(sys.argv[1:], standalone_mode=False)\n"
                "finally:\n"
                "    hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
                "    print(hwm, file=sys.stderr)"
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
        peak = int(out.stderr.strip().splitlines()[-1]) / 2**20  # GiB (VmHWM is KiB)
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
