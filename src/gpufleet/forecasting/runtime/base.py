"""RuntimePredictor: fit(jobs) / predict(jobs) -> p10, p50, p90 of duration (seconds)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import polars as pl
from pydantic import Field

from gpufleet.core.registry import PolicyRegistry, PolicySettings

if TYPE_CHECKING:
    from gpufleet.forecasting.runtime.known import TrainingSet

QUANTILE_COLUMNS = ("p10", "p50", "p90")


class RuntimePredictor(Protocol):
    """Predicts each job's duration from what was known when it was submitted."""

    # A member also declares `Settings`, its pydantic model (core.registry.Policy, checked on registration).
    # True: `fit_at` trains a model on a cutoff's knowledge; False: `predict` is causal on its own and
    # `fit_at` does nothing (user-history, gpu-class, oracle). Declared, never probed.
    learned: ClassVar[bool]
    # True: it reads what was not known at submission (the observed durations: `oracle`), an upper bound for
    # offline replays only; the simulator then uses the true durations and `auto` never chooses it.
    sees_future: ClassVar[bool]
    # What the last fit chose and why (the `auto` predictor: member, validation scores); None for the others.
    choice: dict[str, Any] | None

    def fit_at(self, jobs: pl.DataFrame, origin: float, pool: TrainingSet | None = None) -> RuntimePredictor:
        """Learn what was known at `origin` (trace seconds): jobs finished by then, and jobs still running
        (right-censored at their elapsed time); `pool` adds other clusters' rows (leave-one-out)."""
        ...

    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Learn from finished jobs (canonical JOBS with durations)."""
        ...

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """One row per input job, in order: job_id, p10, p50, p90 (seconds, p10 <= p50 <= p90)."""
        ...


class Causal:
    """The Protocol's training half for members whose `predict` is causal by itself (user-history, gpu-class,
    oracle): nothing is learned at a cutoff and nothing is chosen; by default nothing to set."""

    class Settings(PolicySettings):
        """Nothing to set."""

    learned: ClassVar[bool] = False
    sees_future: ClassVar[bool] = False
    choice: dict[str, Any] | None = None

    def __init__(self, settings: PolicySettings | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()

    def fit_at(self, jobs: pl.DataFrame, origin: float, pool: TrainingSet | None = None) -> RuntimePredictor:
        """Nothing to train: estimates come from the trace's own finished jobs as it is replayed."""
        return self  # type: ignore[return-value]


class FromFinished(Causal):
    """Causal members that estimate from the durations of jobs finished before each submit (user-history,
    gpu-class): `fit` keeps earlier finished jobs to seed them, and `default_s` answers before any has finished."""

    class Settings(Causal.Settings):
        """The estimate when nothing has finished yet."""

        default_s: float = Field(3600.0, ge=0, description="seconds predicted before any job has finished")

    settings: Settings

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.default_s = self.settings.default_s
        self._past: pl.DataFrame | None = None


PREDICTORS: PolicyRegistry[RuntimePredictor] = PolicyRegistry(
    "predictor", plugins="gpufleet.predictors", flags=("sees_future",)
)
