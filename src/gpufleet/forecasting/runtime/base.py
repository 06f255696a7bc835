"""RuntimePredictor: fit(jobs) / predict(jobs) -> p10, p50, p90 of duration (seconds)."""

from __future__ import annotations

from typing import Protocol

import polars as pl

from gpufleet.core.registry import Registry

QUANTILE_COLUMNS = ("p10", "p50", "p90")


class RuntimePredictor(Protocol):
    """Predicts each job's duration from what was known when it was submitted."""

    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Learn from finished jobs (canonical JOBS with durations)."""
        ...

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """One row per input job, in order: job_id, p10, p50, p90 (seconds, p10 <= p50 <= p90)."""
        ...


PREDICTORS: Registry[type[RuntimePredictor]] = Registry("predictor")


def make_predictor(name: str) -> RuntimePredictor:
    """A fresh predictor instance by registry name."""
    return PREDICTORS.get(name)()
