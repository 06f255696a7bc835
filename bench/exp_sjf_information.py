"""Experiment (issue #4, not part of `make bench`): how much must a runtime predictor know for SJF to come
within 10% of SJF with the true durations, and how much do ITP's submission-time features carry?

SJF replays with synthetic predictions built from the true durations, each the mean of 5 seeds, over SJF
with `oracle`, with predictions fixed at submission and refreshed from submission mates (the default):
- "class": log prediction = the GPU-count class's mean log duration + r (log duration - class mean) +
  sqrt(1 - r^2) x the class's s.d. x N(0, 1), class statistics from the whole trace (so a predictor that
  knows every class's true mean and, at r = 0, nothing about a job within its class);
- "noise": the true duration x exp(N(0, sd)): unbiased errors of a chosen size around the truth.
Then, per trace, the correlation of the shipped `lightgbm` predictions (rolling refits, causal) with the
true log duration: overall and within GPU-count classes (weighted by jobs; the first fifth, the warm-up
before the first refit, left out). Figures and what they mean: docs/results.md ("Forecasting").
Usage: GPUFLEET_DATA=../shared/traces python bench/exp_sjf_information.py [--ref itp:cluster04]
       [--cluster 64x8:V100] [--r 0,0.2,0.4,0.6,0.8] [--sd 0.5,1,2,3] [--seeds 5] [--corr-refs ...]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import polars as pl


def class_stats(y: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per job, its GPU class's mean and s.d. of log duration."""
    mu, sd = np.zeros_like(y), np.zeros_like(y)
    for c in np.unique(g):
        m = g == c
        mu[m], sd[m] = y[m].mean(), y[m].std()
    return mu, sd


def within_class_corr(pred: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
    """Job-weighted mean over GPU classes (30+ jobs, varying predictions) of corr(pred, y)."""
    cs, ws = [], []
    for c in np.unique(g):
        m = g == c
        if m.sum() > 30 and pred[m].std() > 0 and y[m].std() > 0:
            cs.append(float(np.corrcoef(pred[m], y[m])[0, 1]))
            ws.append(int(m.sum()))
    return float(np.average(cs, weights=ws)) if cs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="itp:cluster04")
    ap.add_argument("--cluster", default="64x8:V100", help="cluster spec ('auto': mean demand at ~95%%)")
    ap.add_argument("--r", default="0,0.2,0.4,0.6,0.8", help="within-class correlations to try")
    ap.add_argument("--sd", default="0.5,1,2,3", help="log-scale noise s.d. around the truth to try")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--corr-refs", default="itp:cluster02,itp:cluster07,itp:cluster04,philly:jobs")
    a = ap.parse_args()
    if not os.environ.get("GPUFLEET_DATA"):
        print("exp_sjf_information: skipped (set GPUFLEET_DATA=../shared/traces)")
        return
    from gpufleet.forecasting.runtime import PREDICTORS
    from gpufleet.plan.references import auto_cluster, load_cluster
    from gpufleet.sim.run import SimConfig, simulate
    from gpufleet.traces import load

    jobs = load(a.ref).frame
    spec = auto_cluster(jobs) if a.cluster == "auto" else a.cluster
    nodes = load_cluster(spec, None)
    y = np.log(np.maximum(jobs["duration"].fill_null(1.0).to_numpy(), 1.0))
    g = jobs["num_gpus"].to_numpy()
    mu, sd = class_stats(y, g)
    oracle = simulate(jobs, nodes, SimConfig(scheduler="sjf", predictor="oracle")).summary.avg_jct_s

    def ratios(log_pred: np.ndarray) -> dict[str, float]:
        p = np.exp(log_pred)
        frame = pl.DataFrame({"job_id": jobs["job_id"], "p10": p, "p50": p, "p90": p})
        out = {}
        for mode, gap in (("fixed", 0.0), ("refreshed", SimConfig().mate_gap_s)):
            cfg = SimConfig(scheduler="sjf", predictor="lightgbm", mate_gap_s=gap)
            out[mode] = simulate(jobs, nodes, cfg, predictions=frame).summary.avg_jct_s / oracle
        return out

    def row(label: str, make: Callable[[np.ndarray], np.ndarray]) -> None:
        """One line: `make` turns seeded N(0, 1) draws (one per job) into log predictions."""
        t0 = time.perf_counter()
        runs = [ratios(make(np.random.default_rng(s).normal(size=y.size))) for s in range(1, a.seeds + 1)]
        cells = "  ".join(
            f"{m} {np.mean([r[m] for r in runs]):.3f} ({min(r[m] for r in runs):.3f}-{max(r[m] for r in runs):.3f})"
            for m in ("fixed", "refreshed")
        )
        print(f"  {label:28s} {cells}  ({time.perf_counter() - t0:.0f} s)", flush=True)

    print(f"{a.ref} on {spec}: SJF JCT with synthetic predictions / with oracle, mean (range) of {a.seeds} seeds")

    def within(r: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda z: mu + r * (y - mu) + np.sqrt(1 - r * r) * sd * z

    def noise(s: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda z: y + s * z

    for r in map(float, a.r.split(",")):
        row(f"class mean, within corr {r:.1f}", within(r))
    for s in map(float, a.sd.split(",")):
        row(f"truth x exp(N(0, {s:.1f}))", noise(s))

    print("lightgbm predictions (geo-mean of p10/p50/p90) against the true log duration, last 80% of jobs:")
    for ref in a.corr_refs.split(","):
        j = load(ref).frame
        p = PREDICTORS.build("lightgbm").predict(j)
        lp = np.log((p["p10"] * p["p50"] * p["p90"]).to_numpy() ** (1 / 3))
        yy = np.log(np.maximum(j["duration"].fill_null(1.0).to_numpy(), 1.0))
        k0 = j.height // 5
        gg = j["num_gpus"].to_numpy()
        print(
            f"  {ref:14s} overall {np.corrcoef(lp[k0:], yy[k0:])[0, 1]:.2f}  within GPU class"
            f" {within_class_corr(lp[k0:], yy[k0:], gg[k0:]):.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
