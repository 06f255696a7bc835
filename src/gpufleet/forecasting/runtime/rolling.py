"""Rolling origins in trace time, the way a live system refits: what each learned predictor's `predict`
does without a prior fit (the simulator's case).

Every `step` seconds, at origin o, the caller's `fill(o, window)` trains on what was known at o and
predicts the jobs submitted in [o, o + step); it returns None when too little was known, and those jobs
keep the `user-history` estimate. No prediction uses a job that had not finished when it was made.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime.history import UserHistory


def rolling(jobs: pl.DataFrame, step: float, fill: Callable[[float, np.ndarray], np.ndarray | None]) -> np.ndarray:
    """(n, 3) p10/p50/p90 for every job, in input order."""
    sub = jobs["submit_time"].to_numpy().astype(float)
    base = UserHistory().predict(jobs)
    out = np.column_stack([base["p10"].to_numpy(), base["p50"].to_numpy(), base["p90"].to_numpy()])
    if not len(sub):
        return out
    origin = math.floor(sub.min() / step) * step
    while origin <= sub.max():
        window = (sub >= origin) & (sub < origin + step)
        if window.any():
            got = fill(origin, window)
            if got is not None:
                out[window] = got
        origin += step
    return out
