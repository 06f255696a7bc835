"""`lightgbm`: LightGBM quantile regression (p10, p50, p90) on log duration over submission-time features.

Two ways to use it:
- `fit(train)` then `predict(jobs)`: one model, trained on finished jobs (for `gpufleet train runtime`).
- `predict(jobs)` without a fit (what the simulator does): rolling origins in trace time. Every
  `refit_every_s` a model is trained on the jobs that had finished by then and predicts the jobs
  submitted until the next origin; before `min_train` jobs have finished, `user-history` predicts.
  No prediction ever uses a job that had not finished when the predicted job was submitted.
"""

from __future__ import annotations

import math
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from gpufleet.core.errors import GpufleetError
from gpufleet.forecasting.runtime.base import PREDICTORS, RuntimePredictor
from gpufleet.forecasting.runtime.features import CATEGORICAL, runtime_features, usable_features
from gpufleet.forecasting.runtime.history import UserHistory

FEATURE_SCHEMA_VERSION = 1
QUANTILES = (0.1, 0.5, 0.9)


class LightGBMRuntimeSettings(BaseModel):
    """Knobs of the LightGBM runtime predictor (each field is CLI help)."""

    model_config = ConfigDict(extra="forbid")
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
class LightGBMRuntime:
    """Quantile gradient boosting on log1p(duration)."""

    def __init__(self, settings: LightGBMRuntimeSettings | None = None) -> None:
        self.settings = settings or LightGBMRuntimeSettings()
        self.boosters: list[lgb.Booster] = []
        self.features: list[str] = []
        self.missing: list[str] = []
        self.vocab: dict[str, dict[str, int]] = {}
        self.trained_on = 0

    # -- one model ------------------------------------------------------------------------------
    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Train on the jobs with a known duration (features are computed causally within `jobs`)."""
        feats = runtime_features(jobs)
        keep = jobs["duration"].is_not_null().to_numpy()
        self._fit_rows(feats.filter(pl.Series(keep)), jobs["duration"].filter(pl.Series(keep)).to_numpy())
        return self

    def _fit_rows(self, feats: pl.DataFrame, dur: np.ndarray) -> None:
        if feats.height < 10:
            raise GpufleetError(f"lightgbm runtime model needs at least 10 finished jobs, got {feats.height}")
        self.features, self.missing = usable_features(feats)
        self.vocab = {
            c: {v: k for k, v in enumerate(sorted(feats[c].drop_nulls().unique().to_list()))}
            for c in self.features
            if c in CATEGORICAL
        }
        x = self._matrix(feats)
        y = np.log1p(np.maximum(dur, 0.0))
        cats = [k for k, c in enumerate(self.features) if c in CATEGORICAL]
        s = self.settings
        self.boosters = []
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
            ds = lgb.Dataset(x, y, categorical_feature=cats, free_raw_data=True)
            self.boosters.append(lgb.train(params, ds, num_boost_round=s.n_estimators))
        self.trained_on = feats.height

    def _matrix(self, feats: pl.DataFrame) -> np.ndarray:
        cols = []
        for c in self.features:
            if c in CATEGORICAL:
                voc = self.vocab[c]
                cols.append(
                    np.array([voc.get(v, np.nan) if v is not None else np.nan for v in feats[c].to_list()], dtype=float)
                )
            else:
                cols.append(feats[c].cast(pl.Float64).fill_null(np.nan).to_numpy())
        return np.column_stack(cols) if cols else np.empty((feats.height, 0))

    def _predict_rows(self, feats: pl.DataFrame) -> np.ndarray:
        x = self._matrix(feats)
        q = np.column_stack([b.predict(x, num_threads=1) for b in self.boosters])
        q.sort(axis=1)  # quantile models are fit separately; sorting restores p10 <= p50 <= p90
        return np.expm1(np.maximum(q, 0.0))

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """p10/p50/p90 per job: from the fitted model, or by rolling origins when not fitted."""
        feats = runtime_features(jobs)
        if self.boosters:
            q = self._predict_rows(feats)
        else:
            q = self._rolling(jobs, feats)
        return pl.DataFrame({"job_id": jobs["job_id"], "p10": q[:, 0], "p50": q[:, 1], "p90": q[:, 2]})

    # -- rolling origins ------------------------------------------------------------------------
    def _rolling(self, jobs: pl.DataFrame, feats: pl.DataFrame) -> np.ndarray:
        sub = jobs["submit_time"].to_numpy().astype(float)
        dur = jobs["duration"].fill_null(np.nan).to_numpy().astype(float)
        end = sub + dur
        base = UserHistory().predict(jobs)
        out = np.column_stack([base["p10"].to_numpy(), base["p50"].to_numpy(), base["p90"].to_numpy()])
        if not len(sub):
            return out
        step = self.settings.refit_every_s
        origin = math.floor(sub.min() / step) * step
        while origin <= sub.max():
            window = (sub >= origin) & (sub < origin + step)
            done = np.isfinite(end) & (end <= origin)
            if window.any() and done.sum() >= self.settings.min_train:
                m = LightGBMRuntime(self.settings)
                m._fit_rows(feats.filter(pl.Series(done)), dur[done])
                out[window] = m._predict_rows(feats.filter(pl.Series(window)))
            origin += step
        return out

    # -- persistence (the edges write the files; this module does no I/O) -------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted model, as JSON-ready data."""
        if not self.boosters:
            raise GpufleetError("the lightgbm runtime model is not fitted")
        return {
            "kind": "runtime",
            "model": "lightgbm",
            "feature_schema_version": FEATURE_SCHEMA_VERSION,
            "features": self.features,
            "features_missing": self.missing,
            "vocab": self.vocab,
            "quantiles": list(QUANTILES),
            "trained_on": self.trained_on,
            "settings": self.settings.model_dump(),
            "boosters": [b.model_to_string() for b in self.boosters],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LightGBMRuntime:
        """Rebuild a fitted model; refuses a state written for another feature schema."""
        if state.get("model") != "lightgbm" or state.get("kind") != "runtime":
            raise GpufleetError(f"not a lightgbm runtime model (kind={state.get('kind')}, model={state.get('model')})")
        if state.get("feature_schema_version") != FEATURE_SCHEMA_VERSION:
            raise GpufleetError(
                f"model feature schema v{state.get('feature_schema_version')} does not match this"
                f" gpufleet (v{FEATURE_SCHEMA_VERSION}); retrain it with `gpufleet train runtime`"
            )
        m = cls(LightGBMRuntimeSettings(**state["settings"]))
        m.features, m.missing, m.vocab = state["features"], state["features_missing"], state["vocab"]
        m.trained_on = state["trained_on"]
        m.boosters = [lgb.Booster(model_str=s) for s in state["boosters"]]
        return m

    def check_columns(self, jobs: pl.DataFrame) -> None:
        """Refuse jobs that lack a column the model was trained to use (e.g. `user` for a Philly model)."""
        raw = {
            "user": "user",
            "h_user": "user",
            "name": "name",
            "h_name": "name",
            "h_user_name": "name",
            "name_token": "name",
            "gpu_type": "gpu_type",
            "group": "group",
        }
        need = sorted({col for f in self.features for p, col in raw.items() if f == p or f.startswith(p + "_")})
        lacking = [c for c in need if c not in jobs.columns or jobs[c].null_count() == jobs.height]
        if lacking:
            raise GpufleetError(
                f"the model was trained with {', '.join(lacking)} but these jobs have no values for"
                f" {'it' if len(lacking) == 1 else 'them'}; train a model on data like this"
            )
