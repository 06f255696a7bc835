"""Training-fleet node-pool scaling (issue #6, item 3): GPU-hours vs wait for a fixed cluster, a Cluster
Autoscaler-like rule and the predictive scaler, on ITP cluster04 (FIFO + best-fit, 78x8 V100 at most,
provisioning delay 300 s). The predictive scaler reads `lightgbm` runtime predictions (rolling weekly refits,
trained only on jobs finished before each refit); `oracle` predictions are shown as its upper bound.
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_pools.py
"""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    data = os.environ.get("GPUFLEET_DATA")
    if not data:
        print("GPUFLEET_DATA is not set: the pool benchmark needs itp:cluster04; skipped")
        return 0
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.sim.run import SimConfig, simulate
    from gpufleet.traces import load

    jobs = load("itp:cluster04", data).frame
    nodes = parse_spec("78x8:V100")
    runs = [
        ("fixed 78x8", {"pool": None}),
        ("cluster-autoscaler", {"pool": "cluster-autoscaler"}),
        ("predictive (lightgbm)", {"pool": "predictive", "predictor": "lightgbm"}),
        ("predictive (oracle)", {"pool": "predictive", "predictor": "oracle"}),
    ]
    base = None
    for name, kw in runs:
        t0 = time.perf_counter()
        s = simulate(jobs, nodes, SimConfig(scheduler="fifo", placement="best-fit", **kw)).summary
        base = base or s.gpu_hours
        preempted = s.pool.jobs_preempted_by_scale_down if s.pool is not None else 0
        print(
            f"{name:22s} GPU-h {s.gpu_hours:9,.0f} ({s.gpu_hours / base:5.1%})"
            f"  avg wait {s.avg_wait_s / 3600:5.2f} h"
            f"  p95 wait {s.p95_wait_s / 3600:6.2f} h  preempted {preempted:5d}"
            f"  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
