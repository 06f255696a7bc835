"""`xgb-aft`: accelerated failure time boosting (XGBoost `survival:aft`) that learns from running jobs too.

At a training cutoff a finished job is an exact label (lower = upper = duration) and a job still running
is an interval label (lower = elapsed, upper = infinity): the model sees that long jobs exist before they
end, which a model fit on finished jobs alone cannot (it learns a world of short jobs: survivorship). The
fitted value is the location of log duration; p10/p50/p90 add Kaplan-Meier quantiles of the residuals on
the most recent `calib_frac` of the trace's own known jobs, censored ones included, so the intervals and
the median follow the recent past.

Rolling mode (`predict` without a fit, what the simulator does) refits every `refit_every_s` on what was
known at that origin, like `lightgbm`; before `min_train` jobs are known, `user-history` predicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from gpufleet.core.errors import GpufleetError
from gpufleet.core.registry import PolicySettings
from gpufleet.forecasting.runtime.base import PREDICTORS, RuntimePredictor
from gpufleet.forecasting.runtime.calibrate import censored_quantiles
from gpufleet.forecasting.runtime.encode import FeatureEncoder, lacking_columns
from gpufleet.forecasting.runtime.known import TrainingSet, end_of_trace, known_at
from gpufleet.forecasting.runtime.learned import LearnedRuntime, refuse_lacking

if TYPE_CHECKING:  # xgboost loads when a model is trained or read, not with the registry (CLI help)
    import xgboost as xgb

FEATURE_SCHEMA_VERSION = 1
MIN_CALIB = 30  # finished jobs below which the residual quantiles use every known job


class AFTSettings(PolicySettings):
    """Knobs of the censored runtime model (each field is CLI help)."""

    seed: int = Field(0, ge=0, description="random seed (single-threaded, deterministic)")
    n_estimators: int = Field(200, ge=10, description="boosting rounds")
    learning_rate: float = Field(0.05, gt=0, le=1, description="shrinkage")
    max_depth: int = Field(2, ge=1, description="tree depth")
    min_child_weight: float = Field(20.0, ge=0, description="minimum hessian per leaf (regularises small classes)")
    # normal, depth 2: chosen on the validation windows (60-80% by time) of the 7 ITP clusters and Philly,
    # never on the last 20% that the reported figures use (docs/results.md has the grid). The logistic was
    # 3% better there (censoring is ~1% on ITP) but puts a class whose jobs are mostly still running 4.7x
    # too long (its heavy tail lets censored rows pull the location up); the normal gets it right.
    distribution: Literal["normal", "logistic", "extreme"] = Field("normal", description="AFT error distribution")
    scale: float = Field(1.0, gt=0, description="AFT distribution scale (log-seconds)")
    calib_frac: float = Field(
        0.2, gt=0, le=1, description="latest share of known jobs whose residuals set the quantiles (1: all)"
    )
    refit_every_s: float = Field(7 * 86400.0, gt=0, description="rolling mode: retrain this often (trace seconds)")
    min_train: int = Field(200, ge=10, description="known jobs (finished or running) needed before the first model")


@PREDICTORS.register("xgb-aft")
class AFTRuntime(LearnedRuntime):
    """XGBoost survival:aft on submission-time features, with censored residual quantiles."""

    Settings: ClassVar[type[AFTSettings]] = AFTSettings
    model: ClassVar[str] = "xgb-aft"
    feature_schema_version: ClassVar[int] = FEATURE_SCHEMA_VERSION

    def __init__(self, settings: AFTSettings | None = None) -> None:
        self.settings = settings or AFTSettings()
        self.encoder = FeatureEncoder()
        self.booster: xgb.Booster | None = None
        self.offsets = np.zeros(3)
        self.base = 0.0  # starting log duration of the boosting (see _boost)
        self.trained_on = 0
        self.censored = 0
        self.notes: list[str] = []

    # -- training ---------------------------------------------------------------------------------
    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Train on a whole trace (jobs without a duration count as running until the trace's last event)."""
        return self.fit_at(jobs, end_of_trace(jobs))

    @property
    def is_fitted(self) -> bool:
        """Whether a booster was trained."""
        return self.booster is not None

    def train_known(self, own: TrainingSet, pool: TrainingSet | None = None) -> None:
        """Train on a cutoff's knowledge (`own`: the trace itself, its latest rows calibrate) plus `pool`."""
        both = own.concat(pool)
        if both.height < 10 or not both.finished.any():
            raise GpufleetError(f"xgb-aft needs at least 10 known jobs, some finished; got {both.height}")
        self.encoder, self.booster, self.base = self._boost(both)
        # Quantiles of the residuals of the most recent `calib_frac` of the trace's own known jobs (censored
        # ones as lower bounds): the recent past is the best guess of how the next jobs scatter.
        calib = own.tail(max(int(own.height * self.settings.calib_frac), min(own.height, MIN_CALIB)))
        if self.settings.calib_frac >= 1 or calib.finished.sum() < MIN_CALIB:
            calib = both
        mu = self.booster.predict(self._dmatrix(self.encoder, calib.feats, self.base), output_margin=True)
        resid = np.log(np.maximum(calib.lower, 1.0)) - mu
        q = censored_quantiles(resid, calib.finished)
        self.offsets = np.sort(q) if q is not None else np.zeros(3)
        self.trained_on, self.censored = both.height, int((~both.finished).sum())

    def _boost(self, ts: TrainingSet) -> tuple[FeatureEncoder, xgb.Booster, float]:
        import xgboost as xgb

        enc = FeatureEncoder.learn(ts.feats)
        # Boosting starts from the median log duration of the finished jobs, not XGBoost's default 0.5
        # (1.6 s): the AFT gradient of a far-off point is small (bounded for the logistic), and a couple of
        # hundred rounds never walked the 8 log-units to hours (found on ITP cluster01: margins near 0).
        base = float(np.median(np.log(np.maximum(ts.lower[ts.finished], 1.0))))
        dm = self._dmatrix(enc, ts.feats, base)
        dm.set_float_info("label_lower_bound", np.maximum(ts.lower, 1.0))
        dm.set_float_info("label_upper_bound", np.where(ts.finished, np.maximum(ts.upper, 1.0), np.inf))
        s = self.settings
        params = {
            "objective": "survival:aft",
            "eval_metric": "aft-nloglik",
            "aft_loss_distribution": s.distribution,
            "aft_loss_distribution_scale": s.scale,
            "tree_method": "hist",
            "learning_rate": s.learning_rate,
            "max_depth": s.max_depth,
            "min_child_weight": s.min_child_weight,
            "seed": s.seed,
            "nthread": 1,
            "verbosity": 0,
        }
        return enc, xgb.train(params, dm, num_boost_round=s.n_estimators), base

    @staticmethod
    def _dmatrix(enc: FeatureEncoder, feats: pl.DataFrame, base: float) -> xgb.DMatrix:
        import xgboost as xgb

        x = enc.matrix(feats)
        types = ["c" if k in enc.categorical else "q" for k in range(len(enc.features))]
        dm = xgb.DMatrix(x, feature_types=types or None, enable_categorical=True, nthread=1)
        dm.set_base_margin(np.full(feats.height, base))
        return dm

    # -- prediction -------------------------------------------------------------------------------
    def predict_rows(self, feats: pl.DataFrame) -> np.ndarray:
        """(n, 3) p10/p50/p90 seconds for feature rows, from the fitted model."""
        if self.booster is None:
            raise GpufleetError("the xgb-aft runtime model is not fitted")
        mu = self.booster.predict(self._dmatrix(self.encoder, feats, self.base), output_margin=True)
        return np.exp(mu[:, None] + self.offsets[None, :])

    def _fitted(self, feats: pl.DataFrame) -> np.ndarray:
        unseen = {c: v for c, v in self.encoder.unseen_share(feats).items() if v > 0.5}
        if unseen:
            what = ", ".join(f"{v:.0%} of {c} values" for c, v in sorted(unseen.items()))
            self.notes.append(f"these jobs are new to the model ({what} never seen in training): read as unknown")
        return self.predict_rows(feats)

    def _at(self, jobs: pl.DataFrame, feats: pl.DataFrame, origin: float, window: np.ndarray) -> np.ndarray | None:
        own = known_at(jobs, origin, feats)
        if own.height < self.settings.min_train or own.finished.sum() < 10:
            return None
        m = AFTRuntime(self.settings)
        m.train_known(own)
        return m.predict_rows(feats.filter(pl.Series(window)))

    # -- persistence (the edges write files) ------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted model, as JSON-ready data."""
        header = self.state_header()
        assert self.booster is not None  # state_header refused an unfitted model
        return header | {
            "offsets": self.offsets.tolist(),
            "base": self.base,
            "trained_on": self.trained_on,
            "censored": self.censored,
            "settings": self.settings.model_dump(),
            "booster": bytes(self.booster.save_raw("json")).decode(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AFTRuntime:
        """Rebuild a fitted model; refuses a state written for another model or feature schema."""
        encoder = cls.check_state(state)
        import xgboost as xgb

        m = cls(AFTSettings(**state["settings"]))
        m.encoder = encoder
        m.offsets = np.array(state["offsets"], dtype=float)
        m.base = float(state["base"])
        m.trained_on, m.censored = state["trained_on"], state.get("censored", 0)
        m.booster = xgb.Booster()
        m.booster.load_model(bytearray(state["booster"].encode()))
        return m

    def check_columns(self, jobs: pl.DataFrame) -> None:
        """Refuse jobs that lack a column the model was trained to use (e.g. `user` for a Philly model)."""
        refuse_lacking(lacking_columns(self.encoder.features, jobs))
