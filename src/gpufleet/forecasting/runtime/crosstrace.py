"""Runtime backtests over several traces at once: each trace on its own past (`time`), or with the other
traces as extra training data (`leave-one-out`: train on every other trace plus the target's own past,
test on the target's last `test_frac` by time). Nothing of a target's test window is ever trained on.

The summary judges each model against the baselines on every trace, because a model is good only if it
wins on traces it was not tuned on: its log-MAE over the best baseline's on the same trace (worst and
median), over `user-history`'s, its bias range and its p10-p90 coverage range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime.backtest import backtest_runtime
from gpufleet.forecasting.runtime.known import TrainingSet, whole_trace

SCHEMES = ("time", "leave-one-out")
BASELINES = ("user-history", "gpu-class")


def backtest_traces(
    traces: Mapping[str, pl.DataFrame],
    models: list[str],
    *,
    scheme: str = "time",
    test_frac: float = 0.2,
    n_origins: int = 1,
    progress: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """(one row per trace and model, what `auto` chose per trace and fold)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; use {' or '.join(SCHEMES)}")
    if scheme == "leave-one-out" and len(traces) < 2:
        raise ValueError("leave-one-out needs at least two traces (e.g. --data 'itp:*')")
    whole: dict[str, TrainingSet] = {}
    if scheme == "leave-one-out":
        for ref, jobs in traces.items():
            if progress:
                progress(f"features of {ref}")
            whole[ref] = whole_trace(jobs)
    rows, chosen = [], []
    for ref, jobs in traces.items():
        pool = None
        for other, ts in whole.items():
            if other != ref:
                pool = ts if pool is None else pool.concat(ts)
        picks: list[dict[str, Any]] = []
        step: Callable[[str], None] | None = None
        if progress is not None:
            step = _prefixed(progress, ref)
        t = backtest_runtime(
            jobs,
            models,
            test_frac=test_frac,
            n_origins=n_origins,
            pool=pool,
            chosen=picks,
            progress=step,
        )
        rows.append(t.with_columns(pl.lit(ref).alias("trace")).select("trace", *t.columns))
        chosen += [{"trace": ref, **p} for p in picks]
    return pl.concat(rows, how="vertical_relaxed"), chosen


def _prefixed(progress: Callable[[str], None], ref: str) -> Callable[[str], None]:
    return lambda m: progress(f"{ref}: {m}")


def summarize(table: pl.DataFrame) -> list[dict[str, Any]]:
    """Per model across traces: log-MAE over the best baseline's and over user-history's, bias, coverage."""
    out = []
    traces = table["trace"].unique(maintain_order=True).to_list()
    for model in table["model"].unique(maintain_order=True).to_list():
        vs_best, vs_uh, bias, cover = [], [], [], []
        for tr in traces:
            t = table.filter(pl.col("trace") == tr)
            mine = t.filter(pl.col("model") == model)
            base = t.filter(pl.col("model").is_in(BASELINES))
            if mine.height == 0:
                continue
            m = float(mine["log_mae"][0])
            if base.height:
                vs_best.append(m / float(base["log_mae"].min()))  # type: ignore[arg-type]
            uh = t.filter(pl.col("model") == "user-history")
            if uh.height:
                vs_uh.append(m / float(uh["log_mae"][0]))
            bias.append(float(mine["bias"][0]))
            cover.append(float(mine["cover_p10_p90"][0]))
        out.append(
            {
                "model": model,
                "traces": len(bias),
                "mean_log_mae": float(table.filter(pl.col("model") == model)["log_mae"].mean()),  # type: ignore[arg-type]
                "worst_vs_best_baseline": max(vs_best) if vs_best else None,
                "median_vs_user_history": float(np.median(vs_uh)) if vs_uh else None,
                "bias_min": min(bias),
                "bias_max": max(bias),
                "cover_min": min(cover),
                "cover_max": max(cover),
            }
        )
    return out
