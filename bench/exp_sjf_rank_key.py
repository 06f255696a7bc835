"""Experiment (issue #4, not part of `make bench`): which key should SJF rank predicted runtime quantiles by?

Validation clusters only (cluster04 is the reported test and is not run here): itp:cluster02, itp:cluster07,
philly:jobs, each on its auto-sized cluster. For each key, the `lightgbm` predictions (computed once, causal
rolling refits) have their p10/p50/p90 replaced by the key, and SJF's average JCT is divided by SJF with
`oracle`. Figures and the decision are in docs/results.md ("Forecasting").
Usage: GPUFLEET_DATA=../shared/traces python bench/exp_sjf_rank_key.py [--refs itp:cluster02,itp:cluster07,philly:jobs]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import polars as pl

Z90 = 1.2815515655446004  # standard normal quantile of 0.9


def keys(p: pl.DataFrame) -> dict[str, Any]:
    p10, p50, p90 = (np.clip(p[c].to_numpy(), 1e-9, None) for c in ("p10", "p50", "p90"))
    mu, sig = np.log(p50), (np.log(p90) - np.log(p10)) / (2 * Z90)  # the quantiles read as a lognormal
    return {
        "geo-mean (current)": (p10 * p50 * p90) ** (1 / 3),
        "p50": p50,
        "lognormal mean": np.exp(mu + sig**2 / 2),
        "exp(mu+sigma^2/4)": np.exp(mu + sig**2 / 4),
        "p10": p10,
        "p90": p90,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refs", default="itp:cluster02,itp:cluster07,philly:jobs")
    a = ap.parse_args()
    if not os.environ.get("GPUFLEET_DATA"):
        print("exp_sjf_rank_key: skipped (set GPUFLEET_DATA=../shared/traces)")
        return
    from gpufleet.forecasting.runtime import PREDICTORS
    from gpufleet.plan.references import auto_cluster, load_cluster
    from gpufleet.sim.run import SimConfig, simulate
    from gpufleet.traces import load

    for ref in a.refs.split(","):
        t0 = time.perf_counter()
        jobs = load(ref).frame
        spec = auto_cluster(jobs)
        nodes = load_cluster(spec, None)
        preds = PREDICTORS.build("lightgbm").predict(jobs)
        oracle = simulate(jobs, nodes, SimConfig(scheduler="sjf", predictor="oracle")).summary.avg_jct_s
        out = {}
        for name, v in keys(preds).items():
            frame = preds.with_columns(pl.Series("p10", v), pl.Series("p50", v), pl.Series("p90", v))
            cfg = SimConfig(scheduler="sjf", predictor="lightgbm")  # the frame stands in for lightgbm's output
            jct = simulate(jobs, nodes, cfg, predictions=frame).summary.avg_jct_s
            out[name] = jct / oracle
        rows = "  ".join(f"{k} {v:.3f}" for k, v in out.items())
        print(f"{ref} on {spec}: SJF JCT lightgbm-key / oracle: {rows}  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
