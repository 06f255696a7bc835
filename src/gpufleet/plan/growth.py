"""Arrival growth for the capacity search: `--growth 1.3` (30% more submissions per unit of time) or
`--growth forecast` (the factor the series forecasters project for the submission rate).

Growth compresses the submit times towards the first one by 1/F and keeps every job's duration and shape:
the same jobs arrive F times as fast, so the offered load is F times higher. The forecast factor is the mean
of the projected daily submission counts over the next `horizon_days` divided by the mean of the last
`recent_days` full days (the trace's last, partial day is left out of the series).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from gpufleet.core.errors import GpufleetError

DAY_S = 86400.0
HORIZON_DAYS = 90
RECENT_DAYS = 7  # one week: the weekday/weekend cycle cancels out of the recent mean


def scale_arrivals(jobs: pl.DataFrame, factor: float) -> pl.DataFrame:
    """The jobs with submit times compressed by 1/factor towards the first submission (durations kept)."""
    if not (math.isfinite(factor) and factor > 0):
        raise GpufleetError(f"--growth {factor}: a growth factor is a finite number > 0")
    if factor == 1 or jobs.height == 0:
        return jobs
    t0 = float(jobs["submit_time"].min())  # type: ignore[arg-type]
    return jobs.with_columns((t0 + (pl.col("submit_time") - t0) / factor).alias("submit_time"))


def daily_submissions(jobs: pl.DataFrame) -> pl.DataFrame:
    """A SERIES frame (unique_id 'submissions', ds, y): jobs submitted per day since the first submission,
    every day present (zero when none), the last, partial day left out."""
    s = jobs["submit_time"].drop_nulls().to_numpy()
    if s.size == 0:
        raise GpufleetError("--growth forecast: the workload has no submit times")
    day = ((s - s.min()) // DAY_S).astype(np.int64)
    counts = np.bincount(day)[:-1] if day.max() > 0 else np.bincount(day)
    from gpufleet.forecasting.series.base import EPOCH

    start = EPOCH + timedelta(seconds=float(s.min()))
    return pl.DataFrame(
        {
            "unique_id": ["submissions"] * len(counts),
            "ds": [start + timedelta(days=i) for i in range(len(counts))],
            "y": counts.astype(float),
        },
        schema={"unique_id": pl.Utf8, "ds": pl.Datetime("us", "UTC"), "y": pl.Float64},
    )


def forecast_growth(jobs: pl.DataFrame, forecaster: str = "auto") -> dict[str, Any]:
    """The growth factor the forecaster projects: projected mean daily submissions over the next 90 days /
    the mean of the last 7 full days; with the numbers that make it."""
    from gpufleet.forecasting.series import FORECASTERS

    series = daily_submissions(jobs)
    if series.height < 2 * RECENT_DAYS:
        raise GpufleetError(
            f"--growth forecast: {series.height} full days of submissions; at least {2 * RECENT_DAYS} are needed"
            " to project the rate (give a factor instead: --growth 1.3)"
        )
    recent = float(series["y"].tail(RECENT_DAYS).mean())  # type: ignore[arg-type]
    if recent <= 0:
        raise GpufleetError(f"--growth forecast: no submissions in the last {RECENT_DAYS} days to grow from")
    model = FORECASTERS.build(forecaster, {"step_s": DAY_S, "season_length": 7})
    model.fit(series)
    projected = float(model.predict(HORIZON_DAYS)["mean"].clip(lower_bound=0).mean())  # type: ignore[arg-type]
    if not projected > 0:
        raise GpufleetError(f"--growth forecast: {forecaster} projects no submissions; give a factor instead")
    return {
        "factor": projected / recent,
        "forecaster": forecaster,
        "days": series.height,
        "recent_days": RECENT_DAYS,
        "recent_mean_per_day": recent,
        "horizon_days": HORIZON_DAYS,
        "projected_mean_per_day": projected,
    }
