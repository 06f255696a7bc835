"""Experiment (issue #20, not part of `make bench`): how the runtime models' knobs were chosen, on validation only.

Every trace is cut at 80% of its jobs by submit time and the last 20% is dropped: nothing here ever sees
the test window that `gpufleet backtest runtime` reports. The models are scored on the 60-80% window
(`test_frac=0.25` of what is left); `auto` validates inside that, on the jobs before 60%. Under
leave-one-out the other traces are cut the same way. Figures and decisions: docs/results.md ("Runtime").
Usage: GPUFLEET_DATA=../shared/traces python bench/exp_runtime_selection.py [--grid aft|auto|none]
       [--refs 'itp:*,philly:jobs'] [--scheme time|leave-one-out|both]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from typing import Any

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime import AFTRuntime, AFTSettings, AutoRuntime, AutoSettings, make_predictor
from gpufleet.forecasting.runtime.backtest import backtest_runtime
from gpufleet.forecasting.runtime.crosstrace import summarize
from gpufleet.forecasting.runtime.known import TrainingSet, whole_trace
from gpufleet.traces import expand_refs, load

MODELS = ["user-history", "gpu-class", "lightgbm", "xgb-aft", "auto"]


def validation_traces(refs: str) -> dict[str, pl.DataFrame]:
    """Each trace without its last 20% by submit time (the reported test window)."""
    out = {}
    for r in expand_refs(refs):
        j = load(r).frame.filter(pl.col("duration").is_not_null()).sort("submit_time", maintain_order=True)
        out[r] = j.head(int(j.height * 0.8))
    return out


def run(traces: dict[str, pl.DataFrame], models: list[str], scheme: str, make: Any) -> pl.DataFrame:
    """One row per trace and model on the validation window."""
    whole = {r: whole_trace(j) for r, j in traces.items()} if scheme == "leave-one-out" else {}
    rows = []
    for r, j in traces.items():
        pool: TrainingSet | None = None
        for o, ts in whole.items():
            if o != r:
                pool = ts if pool is None else pool.concat(ts)
        t = backtest_runtime(j, models, test_frac=0.25, pool=pool, make=make)
        rows.append(t.with_columns(pl.lit(r).alias("trace")))
    return pl.concat(rows, how="vertical_relaxed")


def line(label: str, t: pl.DataFrame, model: str) -> str:
    """One printed line: per-trace log-MAE, the across-trace summary of `model`."""
    s = next(x for x in summarize(t) if x["model"] == model)
    per = t.filter(pl.col("model") == model)
    return (
        f"{label}: mean {s['mean_log_mae']:.3f}  worst/best-baseline {s['worst_vs_best_baseline']:.3f}  "
        f"median/user-history {s['median_vs_user_history']:.3f}  bias {s['bias_min']:+.2f}..{s['bias_max']:+.2f}  "
        f"cover {s['cover_min']:.2f}..{s['cover_max']:.2f}  per trace "
        + " ".join(f"{v:.2f}" for v in per["log_mae"].to_list())
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refs", default="itp:*,philly:jobs")
    ap.add_argument("--grid", default="none", choices=["aft", "auto", "none"])
    ap.add_argument("--scheme", default="both", choices=["time", "leave-one-out", "both"])
    a = ap.parse_args()
    if not os.environ.get("GPUFLEET_DATA"):
        print("exp_runtime_selection: skipped (set GPUFLEET_DATA=../shared/traces)")
        return
    traces = validation_traces(a.refs)
    schemes = ["time", "leave-one-out"] if a.scheme == "both" else [a.scheme]
    for scheme in schemes:
        t0 = time.perf_counter()
        if a.grid == "aft":
            for dist, sc, cf, md in itertools.product(["normal", "logistic"], [1.0, 2.0], [0.2, 1.0], [2, 3]):
                kw = {"distribution": dist, "scale": sc, "calib_frac": cf, "max_depth": md}
                t = run(traces, ["user-history", "gpu-class", "xgb-aft"], scheme, _maker(aft=kw))
                print(line(f"{scheme} xgb-aft {json.dumps(kw)}", t, "xgb-aft"), flush=True)
        elif a.grid == "auto":
            grid = [{"val_frac": v} for v in (0.15, 0.25, 0.4, 0.5)] + [{"margin": m} for m in (0.01, 0.03, 0.1)]
            grid += [{"folds": 1}, {"blend": False}, {"recenter": True}, {"conformal": False}, {}]
            for kw in grid:
                t = run(traces, ["user-history", "gpu-class", "auto"], scheme, _maker(auto=kw))
                print(line(f"{scheme} auto {json.dumps(kw)}", t, "auto"), flush=True)
        else:
            t = run(traces, MODELS, scheme, make_predictor)
            with pl.Config(tbl_rows=200, float_precision=3, tbl_width_chars=160):
                print(t.select("trace", "model", "log_mae", "bias", "cover_p10_p90", "within_2x"))
            for m in MODELS:
                print(line(f"{scheme} {m} (shipped settings)", t, m))
        print(f"({scheme}: {time.perf_counter() - t0:.0f} s)")


def _maker(aft: dict[str, Any] | None = None, auto: dict[str, Any] | None = None) -> Any:
    def make(name: str) -> Any:
        if name == "xgb-aft" and aft is not None:
            return AFTRuntime(AFTSettings(**aft))
        if name == "auto" and auto is not None:
            return AutoRuntime(AutoSettings(**auto))
        return make_predictor(name)

    return make


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
