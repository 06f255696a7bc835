"""lightgbm-direct: the global LightGBM with one model per lead (direct multi-step) instead of recursion.

Everything else is the `lightgbm` forecaster's (per-series scaling, features, conformal intervals; lgbm.py).
The model for lead k learns z_{t+k-1} - z_{t-1} (the change from the last value, `target="diff"`, L1 loss:
the median change) from the window before t and the calendar of the target step; nothing it predicts is fed
back, so errors do not compound along the horizon. Of the independent baselines' eight LightGBM setups only
the change-from-last ones with L1 loss, per lead or recursive, matched last-value naive
(benchmarks/forecast-baselines). Leads beyond `horizon` repeat the block: its forecasts become the window.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from gpufleet.forecasting.series.base import FORECASTERS, ForecasterSettings
from gpufleet.forecasting.series.lgbm import LightGBMForecaster, LightGBMSettings


class LightGBMDirectSettings(LightGBMSettings):
    """Global LightGBM, one model per lead up to `horizon`."""


def lead_rows(
    spec: Any, z: np.ndarray, code: int, first_us: int, step_us: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(X, target) for lead k (1-based) of one scaled series: window before t, target at t + k - 1."""
    w = spec.width
    n_rows = len(z) - w - k + 1
    if n_rows <= 0:
        return np.empty((0, len(spec.names()))), np.empty(0)
    past = np.lib.stride_tricks.sliding_window_view(z, w)[:n_rows]
    target_idx = np.arange(w, w + n_rows) + k - 1
    t_us = first_us + step_us * target_idx.astype(np.int64)
    y = z[target_idx] - past[:, -1] if spec.diff else z[target_idx]
    return spec.build(past, np.full(n_rows, code), t_us), y


@FORECASTERS.register("lightgbm-direct")
class LightGBMDirect(LightGBMForecaster):
    """One LightGBM regressor per lead over every series; per-step conformal intervals."""

    Settings: ClassVar[type[ForecasterSettings]] = LightGBMDirectSettings
    learned: ClassVar[bool] = True

    def _train(self, zs: list[np.ndarray], codes: list[int], firsts: list[int], step_us: int) -> Any:
        boosters: list[Any] = []
        for k in range(1, self.settings.horizon + 1):
            rows = [lead_rows(self.spec, z, c, f, step_us, k) for z, c, f in zip(zs, codes, firsts, strict=True)]
            X = np.concatenate([r[0] for r in rows])
            if X.shape[0] == 0:  # no series is long enough for this lead: later leads reuse the last model
                boosters.append(boosters[-1])
                continue
            boosters.append(self._booster_on(X, np.concatenate([r[1] for r in rows])))
        return boosters

    def _one_step(self, model: Any) -> Any:
        return model[0]

    def _multi(
        self, model: Any, past: np.ndarray, code: np.ndarray, t0: np.ndarray, step_us: int, h: int
    ) -> np.ndarray:
        H = len(model)
        buf = past[:, -self.spec.width :].copy()
        out = np.empty((len(past), h))
        for start in range(0, h, H):
            for k in range(min(H, h - start)):
                X = self.spec.build(buf, code, t0 + (start + k) * step_us)
                step = model[k].predict(X, num_threads=1)
                out[:, start + k] = buf[:, -1] + step if self.spec.diff else step
            buf = np.concatenate([buf, out[:, start : start + H]], axis=1)[:, -self.spec.width :]
        return out
