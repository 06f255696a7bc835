"""Experiment (issue #20, not part of `make bench`): how the runtime models' knobs were chosen, on validation only.

Every trace is cut at 80% of its jobs by submit time and the last 20% is dropped: nothing here ever sees
the test window that `gpufleet backtest runtime` reports. The models are scored on the 60-80% window
(`test_frac=0.25` of what is left); `auto` validates inside that, on the jobs before 60%. Under
leave-one-out the other traces are cut the same way. Figures and decisions: docs/results.md ("Runtime").
`--grid adapt` fits `auto` once per trace and re-predicts with each adaptive conformal rate (the rate moves
only the intervals, never the choice or p50).
Usage: GPUFLEET_DATA=../shared/traces python bench/exp_runtime_selection.py [--grid aft|auto|adapt|none]
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

from gpufleet.forecasting.runtime import AutoRuntime, AutoSettings
from gpufleet.forecasting.runtime.backtest import backtest_runtime, runtime_metrics
from gpufleet.forecasting.runtime.crosstrace import summarize
from gpufleet.forecasting.runtime.known import TrainingSet, whole_trace
from gpufleet.traces import expand_refs, load

MODELS = ["user-history", "gpu-class", "lightgbm", "xgb-aft", "auto"]
RATES = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.2)


def validation_traces(refs: str) -> dict[str, pl.DataFrame]:
    """Each trace without its last 20% by submit time (the reported test window)."""
    out = {}
    for r in expand_refs(refs):
        j = load(r).frame.filter(pl.col("duration").is_not_null()).sort("submit_time", maintain_order=True)
        out[r] = j.head(int(j.height * 0.8))
    return out


def pools(traces: dict[str, pl.DataFrame], scheme: str) -> dict[str, TrainingSet | None]:
    """Per trace, the other traces' whole (cut) traces under leave-one-out; None under the time scheme."""
    whole = {r: whole_trace(j) for r, j in traces.items()} if scheme == "leave-one-out" else {}
    out: dict[str, TrainingSet | None] = {}
    for r in traces:
        pool: TrainingSet | None = None
        for o, ts in whole.items():
            if o != r:
                pool = ts if pool is None else pool.concat(ts)
        out[r] = pool
    return out


def run_adapt(traces: dict[str, pl.DataFrame], scheme: str, rates: tuple[float, ...]) -> dict[float, pl.DataFrame]:
    """Per rate, the validation table of the baselines and `auto` (one fit per trace, as backtest_runtime does)."""
    tables: dict[float, list[pl.DataFrame]] = {r: [] for r in rates}
    for r, pool in pools(traces, scheme).items():
        j = traces[r]
        base = backtest_runtime(j, ["user-history", "gpu-class"], test_frac=0.25, pool=pool)
        sub = j["submit_time"].to_numpy().astype(float)
        dur = j["duration"].to_numpy().astype(float)
        start = int(j.height * 0.75)
        m = AutoRuntime()
        m.fit_at(j, float(sub[start]), pool)
        for rate in rates:
            m.settings = AutoSettings(adapt_rate=rate)
            q = m.predict(j).select("p10", "p50", "p90").to_numpy()[start:]
            width = float(np.mean(np.log(np.maximum(q[:, 2], 1.0) / np.maximum(q[:, 0], 1.0))))
            row = pl.DataFrame([{"model": "auto", **runtime_metrics(dur[start:], *q.T), "log_width": width}])
            t = pl.concat([base.with_columns(pl.lit(None, pl.Float64).alias("log_width")).select(row.columns), row])
            tables[rate].append(t.with_columns(pl.lit(r).alias("trace")))
    return {rate: pl.concat(ts, how="vertical_relaxed") for rate, ts in tables.items()}


def run(traces: dict[str, pl.DataFrame], models: list[str], scheme: str, settings: Any) -> pl.DataFrame:
    """One row per trace and model on the validation window."""
    whole = {r: whole_trace(j) for r, j in traces.items()} if scheme == "leave-one-out" else {}
    rows = []
    for r, j in traces.items():
        pool: TrainingSet | None = None
        for o, ts in whole.items():
            if o != r:
                pool = ts if pool is None else pool.concat(ts)
        t = backtest_runtime(j, models, test_frac=0.25, pool=pool, settings=settings)
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
    ap.add_argument("--grid", default="none", choices=["aft", "auto", "adapt", "none"])
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
        elif a.grid == "adapt":
            for rate, t in run_adapt(traces, scheme, RATES).items():
                per = t.filter(pl.col("model") == "auto")
                cover, width = per["cover_p10_p90"].to_list(), per["log_width"].to_list()
                inside = sum(0.75 <= c <= 0.85 for c in cover)
                print(line(f"{scheme} auto adapt_rate={rate}", t, "auto"), flush=True)
                print(
                    f"    cover per trace {' '.join(f'{c:.3f}' for c in cover)}  inside 0.75-0.85: "
                    f"{inside}/{len(cover)}  mean log(p90/p10) {' '.join(f'{w:.2f}' for w in width)}"
                )
        elif a.grid == "auto":
            grid = [{"val_frac": v} for v in (0.15, 0.25, 0.4, 0.5)] + [{"margin": m} for m in (0.01, 0.03, 0.1)]
            grid += [{"folds": 1}, {"blend": False}, {"recenter": True}, {"conformal": False}, {}]
            for kw in grid:
                t = run(traces, ["user-history", "gpu-class", "auto"], scheme, _maker(auto=kw))
                print(line(f"{scheme} auto {json.dumps(kw)}", t, "auto"), flush=True)
        else:
            t = run(traces, MODELS, scheme, None)
            with pl.Config(tbl_rows=200, float_precision=3, tbl_width_chars=160):
                print(t.select("trace", "model", "log_mae", "bias", "cover_p10_p90", "within_2x"))
            for m in MODELS:
                print(line(f"{scheme} {m} (shipped settings)", t, m))
        print(f"({scheme}: {time.perf_counter() - t0:.0f} s)")


def _maker(aft: dict[str, Any] | None = None, auto: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per model, the settings of this grid point (backtest_runtime builds each model with them)."""
    return {k: v for k, v in (("xgb-aft", aft), ("auto", auto)) if v is not None}


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
