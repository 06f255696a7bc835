"""Experiment (issue #4, not part of `make bench`): SJF with predictions refreshed from submission mates,
and how much a single replay's SJF-vs-oracle ratio can be trusted.

For each trace, on its auto-sized V100 cluster (mean GPU demand at 95%): SJF's average JCT with `lightgbm`
over SJF with `oracle`, with predictions fixed at submission (`mate_gap_s=0`) and refreshed from mates
(the default, sim/refresh.py). The design (60 s gap, prior weight 2, refresh at finishes) was chosen on
itp:cluster02, itp:cluster07 and philly:jobs; itp:cluster04 is the reported test.

Sensitivity: the ratio of one non-preemptive replay swings with tiny changes of the ranking (which long job
grabs a node first cascades). Seeds 1..N multiply every job's predicted quantiles by exp(N(0, 0.01)) -
a 1% nudge, far below the model's own error - and replay again; the spread says how far apart two
predictors must be before a single replay can tell them apart.
`--clusters 60x8:V100,64x8:V100,...` replays each trace on those clusters instead (a load sweep).
Usage: GPUFLEET_DATA=../shared/traces python bench/exp_sjf_mates.py [--refs ...] [--seeds 5] [--clusters ...]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import polars as pl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refs", default="itp:cluster02,itp:cluster07,philly:jobs,itp:cluster04")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--clusters", default="", help="cluster specs to replay on (default: auto-sized)")
    a = ap.parse_args()
    if not os.environ.get("GPUFLEET_DATA"):
        print("exp_sjf_mates: skipped (set GPUFLEET_DATA=../shared/traces)")
        return
    from gpufleet.forecasting.runtime import PREDICTORS
    from gpufleet.plan.references import auto_cluster
    from gpufleet.traces import load

    for ref in a.refs.split(","):
        jobs = load(ref).frame
        preds = PREDICTORS.build("lightgbm").predict(jobs)
        for spec in a.clusters.split(",") if a.clusters else [auto_cluster(jobs)]:
            replay(ref, jobs, preds, spec, a.seeds)


def replay(ref: str, jobs: pl.DataFrame, preds: pl.DataFrame, spec: str, seeds: int) -> None:
    """Fixed and refreshed SJF against the oracle on one cluster, unnudged and with `seeds` nudges."""
    from gpufleet.plan.downstream import nudge
    from gpufleet.plan.references import load_cluster
    from gpufleet.sim.run import SimConfig, simulate

    t0 = time.perf_counter()
    nodes = load_cluster(spec, None)
    demand = float((jobs["duration"].fill_null(0) * jobs["num_gpus"]).sum()) / float(
        jobs["submit_time"].max() - jobs["submit_time"].min()  # type: ignore[operator]
    )
    oracle = simulate(jobs, nodes, SimConfig(scheduler="sjf", predictor="oracle")).summary.avg_jct_s
    ratios: dict[str, list[float]] = {"fixed": [], "refreshed": []}
    for seed in range(seeds + 1):
        p = nudge(preds, seed) if seed else preds
        for mode, gap in (("fixed", 0.0), ("refreshed", SimConfig().mate_gap_s)):
            cfg = SimConfig(scheduler="sjf", predictor="lightgbm", mate_gap_s=gap)
            ratios[mode].append(simulate(jobs, nodes, cfg, predictions=p).summary.avg_jct_s / oracle)
    cells = "  ".join(
        f"{m} {v[0]:.3f} (nudged: mean {np.mean(v[1:]):.3f}, {min(v[1:]):.3f}-{max(v[1:]):.3f})"
        for m, v in ratios.items()
    )
    load = demand / float(nodes["num_gpus"].sum())
    print(
        f"{ref} on {spec} (load {load:.0%}): SJF JCT lightgbm / oracle: {cells}  ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
