"""Simulator speed: synthetic jobs on a 10,000-GPU cluster with fifo + best-fit, and full ITP replays.

Each size runs in a fresh process so peak RSS belongs to that size alone. The goal (issue #3) is 1M jobs
in <= 60 s on one core with <= 2 GiB peak memory, cost growing about as N log N.
Usage: python bench/bench_sim.py [--sizes 10000,100000,1000000] [--no-itp]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import subprocess
import sys
import time

CLUSTER = "400x8:A100,300x8:H100,400x8:V100,200x4:A10,100x4:T4"  # 10,000 GPUs, the synthetic jobs' GPU types
SCHEDULERS = ("fifo", "fifo-backfill", "sjf", "qssf", "srtf", "tiresias")


def one_size(n: int) -> dict[str, float]:
    """Generate n synthetic jobs (load ~0.45 of the cluster: 25 days per 100k jobs) and replay them."""
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.sim.run import SimConfig, simulate
    from gpufleet.traces import load

    jobs = load("synthetic:jobs", n_jobs=n, days=max(1.0, 25 * n / 100_000)).frame
    nodes = parse_spec(CLUSTER)
    t0 = time.perf_counter()
    res = simulate(jobs, nodes, SimConfig(scheduler="fifo", placement="best-fit"))
    wall = time.perf_counter() - t0
    return {
        "n": n,
        "wall_s": wall,
        "jobs_per_s": n / wall,
        "events": res.summary.events,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "alloc": res.summary.avg_gpu_allocation,
        "avg_wait_s": res.summary.avg_wait_s,
    }


def itp_replays() -> None:
    """Every itp:* cluster under every scheduler, on a cluster sized to its peak demand (see docs)."""
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.sim.run import SimConfig, simulate
    from gpufleet.traces import DATASETS, load

    for part in DATASETS.get("itp").part_names:
        jobs = load(f"itp:{part}").frame
        gpu_h = float((jobs["duration"] * jobs["num_gpus"]).sum()) / 3600
        span_h = float(jobs["submit_time"].max() - jobs["submit_time"].min()) / 3600
        nodes_n = max(8, math.ceil(gpu_h / span_h / 0.8 / 8))  # mean demand / 0.8 target load, in 8-GPU nodes
        nodes = parse_spec(f"{nodes_n}x8:V100")
        for s in SCHEDULERS:
            t0 = time.perf_counter()
            r = simulate(jobs, nodes, SimConfig(scheduler=s)).summary
            print(
                f"itp:{part:9s} {nodes_n * 8:5d} GPUs {s:13s} {time.perf_counter() - t0:6.2f} s  "
                f"avg JCT {r.avg_jct_s / 3600:7.2f} h  avg wait {r.avg_wait_s / 3600:7.2f} h  "
                f"alloc {r.avg_gpu_allocation:.2f}  preemptions {r.preemptions}",
                flush=True,
            )


def main() -> None:
    """Run the sizes in subprocesses, print a table and the growth exponent, then the ITP replays."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--no-itp", action="store_true")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one_size(a.one)))
        return
    rows = []
    for n in (int(x) for x in a.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"OMP_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"},
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(
            f"fifo+best-fit {r['n']:>9,} jobs on 10,000 GPUs: {r['wall_s']:7.2f} s  {r['jobs_per_s']:>8,.0f} jobs/s  "
            f"{r['events']:>9,} events  peak RSS {r['peak_rss_mib']:6.0f} MiB  alloc {r['alloc']:.2f}",
            flush=True,
        )
    for a_, b_ in itertools.pairwise(rows):
        k = math.log(b_["wall_s"] / a_["wall_s"]) / math.log(b_["n"] / a_["n"])
        print(f"growth {a_['n']:,} -> {b_['n']:,}: time ~ N^{k:.2f} (N log N would be ~N^1.0-1.1)")
    if not a.no_itp and os.environ.get("GPUFLEET_DATA"):
        itp_replays()


if __name__ == "__main__":
    main()
