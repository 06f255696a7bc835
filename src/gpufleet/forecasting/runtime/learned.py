"""What the learned runtime models (`lightgbm`, `xgb-aft`) share: training at a cutoff, the two ways of
predicting (a fitted model, or rolling origins in trace time when there is none), and the saved state's
header and checks. Each model keeps what is its own: how it trains, how it reads its model, what it stores.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.forecasting.runtime.base import RuntimePredictor
from gpufleet.forecasting.runtime.encode import FeatureEncoder
from gpufleet.forecasting.runtime.features import runtime_features
from gpufleet.forecasting.runtime.known import TrainingSet, known_at
from gpufleet.forecasting.runtime.rolling import rolling


class LearnedRuntime:
    """Base of the learned runtime predictors: `train_known`, `_fitted`, `_at` and `is_fitted` are the model's."""

    learned: ClassVar[bool] = True
    sees_future: ClassVar[bool] = False
    choice: dict[str, Any] | None = None
    model: ClassVar[str]  # the registered name, written into (and checked in) the saved state
    feature_schema_version: ClassVar[int]  # of runtime_features the saved state was written with
    settings: Any  # the member's Settings (each has refit_every_s)
    encoder: FeatureEncoder
    notes: list[str]

    @property
    def is_fitted(self) -> bool:
        """Whether a model was trained (else `predict` rolls origins)."""
        raise NotImplementedError

    def train_known(self, own: TrainingSet, pool: TrainingSet | None = None) -> None:
        """Train on a cutoff's knowledge (`own`) plus `pool` (other clusters' rows)."""
        raise NotImplementedError

    def _fitted(self, feats: pl.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _at(self, jobs: pl.DataFrame, feats: pl.DataFrame, origin: float, window: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def fit_at(self, jobs: pl.DataFrame, origin: float, pool: TrainingSet | None = None) -> RuntimePredictor:
        """Learn what was known at `origin`, plus `pool` (other clusters' rows)."""
        self.train_known(known_at(jobs, origin), pool)
        return self  # type: ignore[return-value]

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """p10/p50/p90 per job: from the fitted model, or by rolling origins when not fitted."""
        feats = runtime_features(jobs)
        self.notes = []
        if self.is_fitted:
            q = self._fitted(feats)
        else:
            q = rolling(jobs, self.settings.refit_every_s, lambda origin, window: self._at(jobs, feats, origin, window))
        return pl.DataFrame({"job_id": jobs["job_id"], "p10": q[:, 0], "p50": q[:, 1], "p90": q[:, 2]})

    # -- persistence (the edges write the files; these modules do no I/O) ---------------------------
    def state_header(self) -> dict[str, Any]:
        """The first keys of every saved state: what it is, the feature schema and the encoder."""
        if not self.is_fitted:
            raise GpufleetError(f"the {self.model} runtime model is not fitted")
        return {
            "kind": "runtime",
            "model": self.model,
            "feature_schema_version": self.feature_schema_version,
            "features": self.encoder.features,
            "features_missing": self.encoder.missing,
            "vocab": self.encoder.vocab,
        }

    @classmethod
    def check_state(cls, state: dict[str, Any]) -> FeatureEncoder:
        """The saved state's encoder; refuses another model's state or one written for another feature schema."""
        if state.get("model") != cls.model or state.get("kind") != "runtime":
            raise GpufleetError(
                f"not a {cls.model} runtime model (kind={state.get('kind')}, model={state.get('model')})"
            )
        if state.get("feature_schema_version") != cls.feature_schema_version:
            raise GpufleetError(
                f"model feature schema v{state.get('feature_schema_version')} does not match this"
                f" gpufleet (v{cls.feature_schema_version}); retrain it with `gpufleet train runtime`"
            )
        return FeatureEncoder(state["features"], state["features_missing"], state["vocab"])


def refuse_lacking(lacking: list[str]) -> None:
    """One line when jobs lack columns the model was trained to use (e.g. `user` for a Philly model)."""
    if lacking:
        raise GpufleetError(
            f"the model was trained with {', '.join(lacking)} but these jobs have no values for"
            f" {'it' if len(lacking) == 1 else 'them'}; train a model on data like this"
        )
