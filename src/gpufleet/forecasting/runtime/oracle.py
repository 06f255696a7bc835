"""The oracle: the true duration, for upper bounds (SJF with oracle = the best SJF can do)."""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from gpufleet.forecasting.runtime.base import PREDICTORS, Causal, RuntimePredictor


@PREDICTORS.register("oracle")
class Oracle(Causal):
    """Returns each job's observed duration as p10 = p50 = p90."""

    sees_future: ClassVar[bool] = True  # offline only: an upper bound, never a live estimate

    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Nothing to learn."""
        return self

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """The true durations (null durations predict 0)."""
        d = jobs.get_column("duration").fill_null(0.0)
        return pl.DataFrame({"job_id": jobs.get_column("job_id"), "p10": d, "p50": d, "p90": d})
