"""Runtime backtests split by time (never at random): train on what had finished, score what came after.

Origins: the test window is the last `test_frac` of jobs by submit time, cut into `n_origins` consecutive
folds. For each fold, a learning model is given what was known at the fold's first submit (`fit_at`:
the jobs finished by then, and the jobs still running as right-censored observations; each model decides
what to do with the latter) and predicts the fold; history features keep updating causally inside the
fold (that is information a live system has). Causal baselines (`user-history`, `gpu-class`) and the
`oracle` need no training. `pool` adds other clusters' whole traces to every learner's training data
(the leave-one-out scheme, see crosstrace.py).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime.base import PREDICTORS
from gpufleet.forecasting.runtime.known import TrainingSet

METRIC_DOC = {
    "log_mae": "mean |log1p(p50) - log1p(duration)|",
    "bias": "mean log1p(p50) - log1p(duration): < 0 predicts too short (exp(bias) is the typical factor)",
    "mdape": "median |p50 - duration| / max(duration, 1 s)",
    "within_2x": "share of jobs with p50 / max(duration, 1 s) in [0.5, 2]",
    "cover_p10_p90": "share of durations inside [p10, p90] (nominal 0.8)",
    "below_p90": "share of durations <= p90 (nominal 0.9)",
}


def runtime_metrics(duration: np.ndarray, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray) -> dict[str, float]:
    """The backtest metrics for one set of predictions (definitions in METRIC_DOC)."""
    d = np.maximum(duration, 0.0)
    floor = np.maximum(d, 1.0)
    ratio = np.maximum(p50, 0.0) / floor
    return {
        "log_mae": float(np.mean(np.abs(np.log1p(np.maximum(p50, 0.0)) - np.log1p(d)))),
        "bias": float(np.mean(np.log1p(np.maximum(p50, 0.0)) - np.log1p(d))),
        "mdape": float(np.median(np.abs(p50 - d) / floor)),
        "within_2x": float(np.mean((ratio >= 0.5) & (ratio <= 2.0))),
        "cover_p10_p90": float(np.mean((d >= p10 - 1e-9) & (d <= p90 + 1e-9))),
        "below_p90": float(np.mean(d <= p90 + 1e-9)),
    }


def backtest_runtime(
    jobs: pl.DataFrame,
    models: list[str],
    *,
    test_frac: float = 0.2,
    n_origins: int = 1,
    progress: Callable[[str], None] | None = None,
    pool: TrainingSet | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    chosen: list[dict[str, object]] | None = None,
) -> pl.DataFrame:
    """One row per model: metrics pooled over the test folds, plus fit/predict seconds and row counts.
    `settings` maps a model's name to its settings (its defaults otherwise); `chosen`, when given, collects
    what each `auto` fit chose (its `choice` record) per fold."""
    jobs = jobs.filter(pl.col("duration").is_not_null()).sort("submit_time", maintain_order=True)
    n = jobs.height
    if n < 20:
        raise ValueError(f"a runtime backtest needs at least 20 jobs with durations, got {n}")
    sub = jobs["submit_time"].to_numpy().astype(float)
    dur = jobs["duration"].to_numpy().astype(float)
    start = int(n * (1 - test_frac))
    bounds = np.linspace(start, n, n_origins + 1).astype(int)
    rows = []
    for name in models:
        preds = np.full((n, 3), np.nan)
        fit_s = pred_s = 0.0
        for a, b in itertools.pairwise(bounds):
            if progress:
                progress(f"{name}: fold at job {a:,}")
            origin = sub[a]
            m = PREDICTORS.build(name, (settings or {}).get(name))
            t0 = time.perf_counter()
            if m.learned:
                m.fit_at(jobs, origin, pool)
                if chosen is not None and m.choice:
                    chosen.append({"model": name, "origin": origin, **m.choice})
            fit_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            # predict over the whole history so causal history features see everything finished so far
            p = m.predict(jobs)
            pred_s += time.perf_counter() - t0
            preds[a:b] = p.select("p10", "p50", "p90").to_numpy()[a:b]
        test = slice(start, n)
        rows.append(
            {
                "model": name,
                **runtime_metrics(dur[test], *preds[test].T),
                "fit_s": fit_s,
                "predict_s": pred_s,
                "n_test": n - start,
                "n_origins": n_origins,
            }
        )
    return pl.DataFrame(rows)
