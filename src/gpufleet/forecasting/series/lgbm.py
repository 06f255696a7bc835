"""lightgbm: ONE global LightGBM model over all series, forecasting recursively, with conformal intervals.

Scaling: each series is standardized by its own training mean and standard deviation
(z = (y - mean) / std; std 0 becomes 1), so pods at 5% and at 80% utilization share one model, and
the series code (a categorical feature) lets it keep what is particular to each.
Target and loss (defaults, chosen on the genai and Helios backtests): the trees predict the change
z_t - z_{t-1} with an L1 loss, so the point forecast ("mean" column) is the conditional median of the
next value. On step-like series (allocated GPUs) a leaf that has seen no change predicts exactly
"no change", where a level target with L2 loss pulls every forecast towards a leaf average
(Helios MAE 1.36 vs 0.97 at 1 h); on noisy duty cycles the median also wins. target="level",
objective="l2" give the classic mean forecast.
Recursion: the model predicts one step; for a horizon of h steps that prediction is appended to the
window and becomes lag 1 of the next step (features: lgbm_features.py), h calls in all.
Intervals (split conformal, per horizon step): a second model is fitted on each series minus its last
`horizon + calib_origins - 1` points (scaled by that shorter history alone); from each of
`calib_origins` consecutive origins in the held-out tail it forecasts `horizon` steps recursively,
and |actual - forecast| (in z units) is pooled over series and origins per step k. The L% half-width
at step k is the ceil((n+1)L/100)-th smallest of those n residuals (capped at the largest), made
non-decreasing in k, times the series' std. Steps beyond `horizon` widen as sqrt(k / horizon).
Without any series long enough for a tail, in-sample one-step residuals of the final model, widened
by sqrt(k), stand in (narrower than honest: the model has seen those points).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from gpufleet.forecasting.series.base import FORECASTERS, ForecasterSettings, PanelForecaster
from gpufleet.forecasting.series.lgbm_features import FeatureSpec, recursive, training_rows
from gpufleet.forecasting.series.panel import DAY_US, Panel


class LightGBMSettings(ForecasterSettings):
    """Global LightGBM: features, trees and the conformal calibration."""

    n_lags: int = Field(12, ge=1, description="lags 1..n_lags of the target as features")
    windows: tuple[int, ...] = Field((6, 24), description="rolling mean/std windows in steps")
    seasonal_lag: bool = Field(True, description="add the one-season lag when the median series holds 2 seasons + lags")
    calendar: bool = Field(True, description="hour of day (span >= 2 days) and day of week (span >= 14 days) features")
    target: Literal["level", "diff"] = Field(
        "diff", description="what the trees predict: the next (scaled) value, or its change from the last value"
    )
    objective: Literal["l2", "l1"] = Field(
        "l1", description="point loss: l2 forecasts the conditional mean, l1 the conditional median"
    )
    n_estimators: int = Field(50, ge=1, description="boosting rounds")
    learning_rate: float = Field(0.2, gt=0, description="shrinkage per round")
    num_leaves: int = Field(15, ge=2, description="leaves per tree")
    min_data_in_leaf: int = Field(20, ge=1, description="minimum rows in a leaf")
    max_bin: int = Field(63, ge=2, description="histogram bins per feature (fewer = faster)")
    min_train_rows: int = Field(24, ge=1, description="series with fewer training rows are forecast by the fallback")
    horizon: int = Field(24, ge=1, description="horizon steps calibrated by conformal residuals at fit time")
    calib_origins: int = Field(12, ge=1, description="forecast origins per series in the held-out tail")
    refit: bool = Field(
        True, description="refit on the whole history after calibrating (False: reuse the calibration model)"
    )
    conformal: bool = Field(
        True,
        description="calibrate intervals on held-out tails (False: in-sample residuals, one fit instead of two;"
        " for callers that use only the point forecast)",
    )


def _scales(ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-series mean and std; a (near-)constant series gets std 1 so z stays finite."""
    mu = np.array([float(y.mean()) for y in ys])
    sd = np.array([float(y.std()) for y in ys])
    return mu, np.where(sd > 1e-9 * np.maximum(1.0, np.abs(mu)), sd, 1.0)


@FORECASTERS.register("lightgbm")
class LightGBMForecaster(PanelForecaster[LightGBMSettings]):
    """One LightGBM regressor over every series; recursive multi-step; per-step conformal intervals."""

    Settings: ClassVar[type[ForecasterSettings]] = LightGBMSettings
    learned: ClassVar[bool] = True

    @classmethod
    def warm_up(cls) -> None:
        """Import lightgbm (seconds on a cold start)."""
        import lightgbm  # noqa: F401

    def _fit(self, panel: Panel) -> dict[int, str]:
        s = self.settings
        n = panel.lengths
        long_enough = self.season > s.n_lags and float(np.median(n)) >= 2 * self.season + s.n_lags
        calendar_ok = s.calendar and panel.step_us < DAY_US
        self.spec = FeatureSpec(
            n_lags=s.n_lags,
            windows=tuple(sorted(set(s.windows))),
            season_lag=self.season if s.seasonal_lag and long_enough else 0,
            hour=calendar_ok and panel.span_days() >= 2,
            dow=calendar_ok and panel.span_days() >= 14,
            diff=s.target == "diff",
        )
        need = self.spec.width + max(s.min_train_rows, self.spec.season_lag)
        self._need = need
        self._keep = [i for i in range(len(n)) if n[i] >= need]
        reasons = {
            i: f"{int(n[i])} points < {need} (window {self.spec.width} + {need - self.spec.width} training rows)"
            for i in range(len(n))
            if n[i] < need
        }
        if not self._keep:
            return reasons
        ys = [panel.values[i] for i in self._keep]
        firsts = [int(panel.first_us[i]) for i in self._keep]
        self._booster: Any = None
        held_out = self._calibrate(ys, firsts, panel.step_us) if s.conformal else None
        if self._booster is None:  # refit (the default), or no series had a tail to hold out
            self._mu, self._sd = _scales(ys)
            self._booster = self._train(self._z(ys), list(range(len(ys))), firsts, panel.step_us)
        self._abs_res = held_out if held_out is not None else self._in_sample(ys, firsts, panel.step_us)
        return reasons

    def _z(self, ys: list[np.ndarray]) -> list[np.ndarray]:
        return [(y - m) / d for y, m, d in zip(ys, self._mu, self._sd, strict=True)]

    def _train(self, zs: list[np.ndarray], codes: list[int], firsts: list[int], step_us: int) -> Any:
        rows = [training_rows(self.spec, z, c, f, step_us) for z, c, f in zip(zs, codes, firsts, strict=True)]
        return self._booster_on(np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows]))

    def _multi(
        self, model: Any, past: np.ndarray, code: np.ndarray, t0: np.ndarray, step_us: int, h: int
    ) -> np.ndarray:
        """(rows, h) scaled forecasts from windows `past` (recursive here; lgbm_direct overrides it)."""
        return recursive(self._predict_fn(model), self.spec, past, code, t0, step_us, h)

    def _one_step(self, model: Any) -> Any:
        """The booster that forecasts one step ahead."""
        return model

    def _booster_on(self, X: np.ndarray, target: np.ndarray) -> Any:
        import lightgbm as lgb  # lazily: importing it takes seconds that seasonal-naive users need not pay

        s = self.settings
        params = {
            "objective": "regression" if s.objective == "l2" else "regression_l1",
            "learning_rate": s.learning_rate,
            "num_leaves": s.num_leaves,
            "min_data_in_leaf": s.min_data_in_leaf,
            "max_bin": s.max_bin,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            "seed": s.seed,
            "verbose": -1,
        }
        data = lgb.Dataset(X, target, feature_name=self.spec.names(), categorical_feature=[0], free_raw_data=True)
        return lgb.train(params, data, num_boost_round=s.n_estimators)

    def _calibrate(self, ys: list[np.ndarray], firsts: list[int], step_us: int) -> np.ndarray | None:
        """Sorted |residuals| (n, horizon) in z units from held-out tail forecasts; None without any tail."""
        s, w = self.settings, self.spec.width
        H, C = s.horizon, s.calib_origins
        tail = H + C - 1
        cal = [j for j, y in enumerate(ys) if len(y) - tail >= self._need]
        if not cal:
            return None
        heads = [ys[j][: len(ys[j]) - tail] for j in cal]
        mu, sd = _scales(heads)  # the held-out tail must not leak into the scaling either
        zs = [(ys[j] - m) / d for j, m, d in zip(cal, mu, sd, strict=True)]
        booster = self._train([z[: len(z) - tail] for z in zs], cal, [firsts[j] for j in cal], step_us)
        past, code, t0, actual = [], [], [], []
        for j, z in zip(cal, zs, strict=True):
            for c in range(C):
                o = len(z) - tail + c  # index of the first forecast step
                past.append(z[o - w : o])
                code.append(j)
                t0.append(firsts[j] + o * step_us)
                actual.append(z[o : o + H])
        pred = self._multi(booster, np.stack(past), np.array(code), np.array(t0), step_us, H)
        if not s.refit and len(cal) == len(ys):
            # Reuse the calibration model (and its scaling): half the fit time, minus the last `tail` points.
            self._booster, self._mu, self._sd = booster, mu, sd
        return np.sort(np.abs(np.stack(actual) - pred), axis=0)

    def _in_sample(self, ys: list[np.ndarray], firsts: list[int], step_us: int) -> np.ndarray:
        H = self.settings.horizon
        rows = [
            training_rows(self.spec, z, c, f, step_us) for c, (z, f) in enumerate(zip(self._z(ys), firsts, strict=True))
        ]
        X = np.concatenate([r[0] for r in rows])
        r = np.abs(np.concatenate([r[1] for r in rows]) - self._predict_fn(self._one_step(self._booster))(X))
        return np.sort(r)[:, None] * np.sqrt(np.arange(1, H + 1))[None, :]

    @staticmethod
    def _predict_fn(booster: Any) -> Any:
        return lambda X: booster.predict(X, num_threads=1)

    def _half_widths(self, h: int, levels: list[int]) -> np.ndarray:
        """(levels, h) conformal half-widths in z units."""
        res = self._abs_res
        n, H = res.shape
        out = np.empty((len(levels), h))
        for j, lv in enumerate(levels):
            q = res[min(int(np.ceil((n + 1) * lv / 100)) - 1, n - 1)]
            q = np.maximum.accumulate(q)  # a later step is never more certain than an earlier one
            k = np.arange(1, h + 1)
            out[j] = np.where(k <= H, q[np.minimum(k, H) - 1], q[-1] * np.sqrt(k / H))
        return out

    def _predict(self, h: int, levels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._panel is not None
        p, w = self._panel, self.spec.width
        past = np.stack([z[-w:] for z in self._z([p.values[i] for i in self._keep])])
        t0 = p.last_us[self._keep] + p.step_us
        z = self._multi(self._booster, past, np.arange(len(self._keep)), t0, p.step_us, h)
        mean = self._mu[:, None] + self._sd[:, None] * z
        half = self._half_widths(h, levels)[None, :, :] * self._sd[:, None, None]
        return mean, mean[:, None, :] - half, mean[:, None, :] + half
