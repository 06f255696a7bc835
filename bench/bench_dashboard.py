"""Dashboard speed on a big store (issue #9, point 4): 1,000 GPUs x 7 days at 1-minute samples (10.08 M rows)
in a collector store; every page rendered by Streamlit's AppTest (the page's whole script, the same code a
browser session runs) — first load (reading and aggregating the store) and then again (cached aggregates),
wall time per page. Goal: every page <= 3 s after the first load.

    python bench/bench_dashboard.py [--gpus 1000] [--days 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
PAGES = ["fleet", "workloads", "forecasts", "whatif", "autoscaling"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=1000)
    ap.add_argument("--days", type=float, default=7.0)
    args = ap.parse_args()

    from streamlit.testing.v1 import AppTest

    from gpufleet.collector.store import Store
    from gpufleet.dashboard.data import ENV_RUNS, ENV_STORE
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.traces.synthetic.config import SyntheticSamplesConfig
    from gpufleet.traces.synthetic.samples import synthetic_gpu_samples

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        t0 = time.perf_counter()
        nodes = parse_spec(f"{-(-args.gpus // 8)}x8:A100")
        cfg = SyntheticSamplesConfig(n_gpus=args.gpus, hours=args.days * 24, interval_s=60)
        samples = synthetic_gpu_samples(cfg, nodes)
        store = Store(root / "store")
        for _, day in samples.group_by(samples["ts"].dt.date(), maintain_order=True):
            store.append("GPU_SAMPLES", "prometheus", day, ["node", "gpu_uuid", "pod"])
        rows = samples.height
        del samples
        print(
            f"# bench_dashboard: store of {args.gpus} GPUs x {args.days:g} days at 1 min = {rows:,} rows"
            f" (built in {time.perf_counter() - t0:.0f} s)"
        )
        os.environ[ENV_STORE] = str(root / "store")
        os.environ[ENV_RUNS] = str(root / "no-runs")
        pages = ROOT / "src" / "gpufleet" / "dashboard" / "pages"
        worst = 0.0
        for name in PAGES:
            times = []
            for _ in range(2):
                at = AppTest.from_file(str(pages / f"{name}.py"), default_timeout=900)
                t = time.perf_counter()
                at.run()
                times.append(time.perf_counter() - t)
                if at.exception:
                    print(f"{name}: exception {at.exception[0].message}")
                    return 1
            worst = max(worst, times[1])
            print(f"{name:12s} first load {times[0]:6.2f} s   after the first load {times[1]:5.2f} s")
        print(f"RESULT dashboard: slowest page after the first load {worst:.2f} s (goal <= 3 s) on {rows:,} samples")
        return 0 if worst <= 3.0 else 1


if __name__ == "__main__":
    sys.exit(main())
