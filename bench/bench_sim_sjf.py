"""SJF on a long queue: the synthetic fleet's 100k jobs (as bench_sim, 10,000 GPUs) under `sjf` with the oracle.

A loaded SJF replay keeps hundreds to ~1,400 jobs waiting, and every pass walks them in priority order; the
scheduler skips what it knows fails (schedulers/priority.py). `--compare` also times the replay with those
skips off (same schedule, checked) - slow: minutes.
Usage: python bench/bench_sim_sjf.py [--n 100000] [--compare]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--compare", action="store_true")
    a, _ = ap.parse_known_args()
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.sim.run import SimConfig, simulate
    from gpufleet.sim.schedulers import SCHEDULERS
    from gpufleet.traces import load

    jobs = load("synthetic:jobs", n_jobs=a.n).frame
    nodes = parse_spec("400x8:A100,300x8:H100,400x8:V100,200x4:A10,100x4:T4")
    runs = {}
    for skip in [True, False] if a.compare else [True]:
        sjf = SCHEDULERS.build("sjf", skip_known_failures=skip)
        t0 = time.perf_counter()
        res = simulate(jobs, nodes, SimConfig(scheduler="sjf", predictor="oracle"), scheduler=sjf)
        runs[skip] = res
        s = res.summary
        print(
            f"sjf {a.n:,} jobs on 10,000 GPUs, skips {'on ' if skip else 'off'}: {time.perf_counter() - t0:7.2f} s"
            f"  avg wait {s.avg_wait_s / 60:6.1f} min  p95 wait {s.p95_wait_s / 60:6.1f} min",
            flush=True,
        )
    if a.compare:
        print("same schedule:", runs[True].jobs.equals(runs[False].jobs))


if __name__ == "__main__":
    main()
