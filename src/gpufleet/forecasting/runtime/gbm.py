"""`lightgbm`: LightGBM quantile regression (p10, p50, p90) on log duration over submission-time features.

Two ways to use it:
- `fit(train)` then `predict(jobs)`: one model, trained on finished jobs (for `gpufleet train runtime`).
- `predict(jobs)` without a fit (what the simulator does): rolling origins in trace time. Every
  `refit_every_s` a model is trained on the jobs that had finished by then and predicts the jobs
  submitted until the next origin; before `min_train` jobs have finished, `user-history` predicts.
  No prediction ever uses a job that had not finished when the predicted job was submitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl
from pydantic import Field

from gpufleet.core.errors import GpufleetError
from gpufleet.core.registry import PolicySettings
from gpufleet.forecasting.runtime.base import PREDICTORS, RuntimePredictor
from gpufleet.forecasting.runtime.encode import TRACE_LOCAL, FeatureEncoder, lacking_columns
from gpufleet.forecasting.runtime.features import runtime_features
from gpufleet.forecasting.runtime.known import TrainingSet, known_at
from gpufleet.forecasting.runtime.learned import LearnedRuntime, refuse_lacking

if TYPE_CHECKING:  # lightgbm loads when a model is trained or read, not with the registry (CLI help)
    import lightgbm as lgb

FEATURE_SCHEMA_VERSION = 1
QUANTILES = (0.1, 0.5, 0.9)


class LightGBMRuntimeSettings(PolicySettings):
    """Knobs of the LightGBM runtime predictor (each field is CLI help)."""

    seed: int = Field(0, ge=0, description="random seed (LightGBM runs deterministic, single-threaded)")
    n_estimators: int = Field(300, ge=10, description="boosting rounds per quantile model")
    learning_rate: float = Field(0.05, gt=0, le=1, description="shrinkage")
    # small trees and large leaves: chosen on a validation window (60-80% of Philly and ITP by time), never
    # on the last 20% that the reported figures use
    num_leaves: int = Field(7, ge=2, description="leaves per tree")
    min_child_samples: int = Field(100, ge=1, description="minimum jobs per leaf")
    refit_every_s: float = Field(7 * 86400.0, gt=0, description="rolling mode: retrain this often (trace seconds)")
    min_train: int = Field(200, ge=10, description="rolling mode: finished jobs needed before the first model")


@PREDICTORS.register("lightgbm")
class LightGBMRuntime(LearnedRuntime):
    """Quantile gradient boosting on log1p(duration), trained on finished jobs only (the challenger that
    shows what survivorship costs: see `xgb-aft` for the censored model)."""

    Settings: ClassVar[type[LightGBMRuntimeSettings]] = LightGBMRuntimeSettings
    model: ClassVar[str] = "lightgbm"
    feature_schema_version: ClassVar[int] = FEATURE_SCHEMA_VERSION

    def __init__(self, settings: LightGBMRuntimeSettings | None = None) -> None:
        self.settings = settings or LightGBMRuntimeSettings()
        self.boosters: list[lgb.Booster] = []
        self.encoder = FeatureEncoder()
        # trained without the trace-local categories (users, names): used on a trace whose ids it never saw
        self.portable: tuple[FeatureEncoder, list[lgb.Booster]] | None = None
        self.notes: list[str] = []
        self.trained_on = 0

    @property
    def features(self) -> list[str]:
        """Features the fitted model uses."""
        return self.encoder.features

    @property
    def missing(self) -> list[str]:
        """Features that were empty or constant in the training data."""
        return self.encoder.missing

    # -- one model ------------------------------------------------------------------------------
    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Train on the jobs with a known duration (features are computed causally within `jobs`)."""
        feats = runtime_features(jobs)
        keep = jobs["duration"].is_not_null().to_numpy()
        self._fit_rows(feats.filter(pl.Series(keep)), jobs["duration"].filter(pl.Series(keep)).to_numpy())
        if any(c in TRACE_LOCAL for c in self.encoder.features):
            enc = FeatureEncoder.learn(feats.filter(pl.Series(keep)), drop=TRACE_LOCAL)
            y = np.log1p(np.maximum(jobs["duration"].filter(pl.Series(keep)).to_numpy(), 0.0))
            self.portable = (enc, self._boost(enc, feats.filter(pl.Series(keep)), y))
        return self

    @property
    def is_fitted(self) -> bool:
        """Whether boosters were trained."""
        return bool(self.boosters)

    def train_known(self, own: TrainingSet, pool: TrainingSet | None = None) -> None:
        """Train on the finished rows of a cutoff's knowledge (and of `pool`); running jobs are not used."""
        ts = own.concat(pool)
        done = ts.finished
        self._fit_rows(ts.feats.filter(pl.Series(done)), ts.lower[done])

    def _fit_rows(self, feats: pl.DataFrame, dur: np.ndarray) -> None:
        if feats.height < 10:
            raise GpufleetError(f"lightgbm runtime model needs at least 10 finished jobs, got {feats.height}")
        self.encoder = FeatureEncoder.learn(feats)
        self.boosters = self._boost(self.encoder, feats, np.log1p(np.maximum(dur, 0.0)))
        self.trained_on = feats.height

    def _boost(self, enc: FeatureEncoder, feats: pl.DataFrame, y: np.ndarray) -> list[lgb.Booster]:
        import lightgbm as lgb

        x = enc.matrix(feats)
        s = self.settings
        boosters = []
        for q in QUANTILES:
            params = {
                "objective": "quantile",
                "alpha": q,
                "learning_rate": s.learning_rate,
                "num_leaves": s.num_leaves,
                "min_child_samples": s.min_child_samples,
                "seed": s.seed,
                "deterministic": True,
                "num_threads": 1,
                "verbose": -1,
                "force_row_wise": True,
            }
            ds = lgb.Dataset(x, y, categorical_feature=enc.categorical, free_raw_data=True)
            boosters.append(lgb.train(params, ds, num_boost_round=s.n_estimators))
        return boosters

    def predict_rows(self, feats: pl.DataFrame) -> np.ndarray:
        """(n, 3) p10/p50/p90 seconds for feature rows, from the fitted model."""
        return self._quantiles(self.encoder, self.boosters, feats)

    @staticmethod
    def _quantiles(enc: FeatureEncoder, boosters: list[lgb.Booster], feats: pl.DataFrame) -> np.ndarray:
        x = enc.matrix(feats)
        q = np.column_stack([b.predict(x, num_threads=1) for b in boosters])
        q.sort(axis=1)  # quantile models are fit separately; sorting restores p10 <= p50 <= p90
        return np.expm1(np.maximum(q, 0.0))

    def _fitted(self, feats: pl.DataFrame) -> np.ndarray:
        # A trace whose users or names the model never saw: their codes are all missing, and the model
        # then answers as for a job with no history at all (28x off, found applying a Philly model to
        # another trace). Say so, and use the model trained without those categories.
        unseen = {c: v for c, v in self.encoder.unseen_share(feats).items() if c in TRACE_LOCAL and v > 0.5}
        if unseen and self.portable is not None:
            what = ", ".join(f"{v:.0%} of {c} values" for c, v in sorted(unseen.items()))
            self.notes.append(
                f"these jobs are new to the model ({what} never seen in training): predicting from GPU count,"
                " calendar and the trace's own history only"
            )
            return self._quantiles(*self.portable, feats)
        gpu_new = self.encoder.unseen_share(feats).get("gpu_type", 0.0)
        if gpu_new > 0.5:
            self.notes.append(
                f"{gpu_new:.0%} of these jobs ask for a GPU type the model never saw: it ignores the type"
            )
        return self.predict_rows(feats)

    def _at(self, jobs: pl.DataFrame, feats: pl.DataFrame, origin: float, window: np.ndarray) -> np.ndarray | None:
        ts = known_at(jobs, origin, feats)
        done = ts.finished
        if done.sum() < self.settings.min_train:
            return None
        m = LightGBMRuntime(self.settings)
        m._fit_rows(ts.feats.filter(pl.Series(done)), ts.lower[done])
        return m.predict_rows(feats.filter(pl.Series(window)))

    # -- persistence (the edges write the files; this module does no I/O) -------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted model, as JSON-ready data."""
        return self.state_header() | {
            "portable": None
            if self.portable is None
            else {
                "features": self.portable[0].features,
                "vocab": self.portable[0].vocab,
                "boosters": [b.model_to_string() for b in self.portable[1]],
            },
            "quantiles": list(QUANTILES),
            "trained_on": self.trained_on,
            "settings": self.settings.model_dump(),
            "boosters": [b.model_to_string() for b in self.boosters],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LightGBMRuntime:
        """Rebuild a fitted model; refuses a state written for another model or feature schema."""
        encoder = cls.check_state(state)
        import lightgbm as lgb

        m = cls(LightGBMRuntimeSettings(**state["settings"]))
        m.encoder = encoder
        m.trained_on = state["trained_on"]
        m.boosters = [lgb.Booster(model_str=s) for s in state["boosters"]]
        if state.get("portable"):
            p = state["portable"]
            m.portable = (
                FeatureEncoder(p["features"], [], p["vocab"]),
                [lgb.Booster(model_str=s) for s in p["boosters"]],
            )
        return m

    def check_columns(self, jobs: pl.DataFrame) -> None:
        """Refuse jobs that lack a column the model was trained to use (e.g. `user` for a Philly model),
        unless the model trained without trace-local columns can answer instead."""
        lacking = lacking_columns(self.features, jobs)
        if self.portable is None or any(c not in TRACE_LOCAL for c in lacking):
            refuse_lacking(lacking)
