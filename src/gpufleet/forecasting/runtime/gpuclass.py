"""`gpu-class`: the running p10/p50/p90 of durations of earlier finished jobs that asked the same GPU count.

The simplest honest baseline for traces without users or names (ITP): GPU count is the one thing known at
submission that always separates runtimes. Causal like `user-history`: a job's estimate uses only jobs
that had finished (submit + duration) by its own submit. Fallback: all finished jobs, then `default_s`.
"""

from __future__ import annotations

import bisect
import heapq
import math

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime.base import PREDICTORS, FromFinished, RuntimePredictor

QS = (0.1, 0.5, 0.9)


def _quantiles(sorted_vals: list[float]) -> tuple[float, float, float]:
    n = len(sorted_vals)
    return tuple(sorted_vals[min(n - 1, int(q * n))] for q in QS)  # type: ignore[return-value]


@PREDICTORS.register("gpu-class")
class GpuClassMedian(FromFinished):
    """Empirical quantiles of finished durations per GPU-count class, updated as jobs finish."""

    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Remember earlier finished jobs to seed the classes (predict is causal by itself)."""
        self._past = jobs.filter(pl.col("duration").is_not_null()).select("submit_time", "duration", "num_gpus")
        return self

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """Causal p10/p50/p90 for every job, in input order."""
        past = self._past
        sub = jobs["submit_time"].to_numpy().astype(float)
        dur = jobs["duration"].fill_null(np.nan).to_numpy().astype(float)
        gpus = jobs["num_gpus"].to_list()
        classes: dict[object, list[float]] = {}
        every: list[float] = []
        if past is not None:
            for d, g in zip(past["duration"].to_list(), past["num_gpus"].to_list(), strict=True):
                bisect.insort(classes.setdefault(g, []), d)
                bisect.insort(every, d)
        out = np.zeros((jobs.height, 3))
        pending: list[tuple[float, int]] = []
        for i in sorted(range(jobs.height), key=lambda k: (sub[k], k)):
            while pending and pending[0][0] <= sub[i]:
                _, j = heapq.heappop(pending)
                bisect.insort(classes.setdefault(gpus[j], []), dur[j])
                bisect.insort(every, dur[j])
            vals = classes.get(gpus[i]) or every
            out[i] = _quantiles(vals) if vals else (self.default_s,) * 3
            if math.isfinite(dur[i]):
                heapq.heappush(pending, (sub[i] + dur[i], i))
        return pl.DataFrame({"job_id": jobs["job_id"], "p10": out[:, 0], "p50": out[:, 1], "p90": out[:, 2]})
