"""naive-last and window-mean: the two baselines every series backtest table carries beside the models.

- `naive-last`: the last observed value, held flat (a forward-filled gap carries that same value).
- `window-mean`: the mean of the *observed* values among the last `window` steps, held flat; a window with
  no observation (a gap of at least `window` steps) falls back to the last observed value.
Both are what the independent baselines (benchmarks/forecast-baselines) call `naive_last` and `mean_1h`.
Intervals: empirical quantiles of the in-sample errors of the same rule one step ahead (observed points
only), widened by sqrt(k) at step k, as for a random walk; none at all on a single point.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from gpufleet.forecasting.series.base import FORECASTERS, ForecasterSettings, PanelForecaster, S
from gpufleet.forecasting.series.panel import Panel


def last_observed(y: np.ndarray, obs: np.ndarray) -> float:
    """The last observed value (the last value when nothing is marked observed)."""
    idx = np.flatnonzero(obs)
    return float(y[idx[-1]] if idx.size else y[-1])


def window_mean(y: np.ndarray, obs: np.ndarray, window: int) -> float:
    """Mean of the observed values among the last `window` steps, else the last observed value."""
    w, m = y[-window:], obs[-window:]
    return float(w[m].mean()) if m.any() else last_observed(y, obs)


def rolling_window_means(y: np.ndarray, obs: np.ndarray, window: int) -> np.ndarray:
    """(n,) where entry t is window_mean(y[: t + 1], obs[: t + 1], window): the forecast made after step t."""
    v = np.where(obs, y, 0.0)
    s = np.concatenate([[0.0], np.cumsum(v)])
    c = np.concatenate([[0], np.cumsum(obs.astype(np.int64))])
    t = np.arange(1, len(y) + 1)
    lo = np.maximum(t - window, 0)
    num, cnt = s[t] - s[lo], c[t] - c[lo]
    # the last observed value up to t, for windows without an observation
    last_idx = np.maximum.accumulate(np.where(obs, np.arange(len(y)), -1))
    carried = np.where(last_idx >= 0, y[np.maximum(last_idx, 0)], y)
    return np.where(cnt > 0, num / np.maximum(cnt, 1), carried)


def flat_with_residuals(
    point: float, residuals: np.ndarray, h: int, levels: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat forecast with intervals from one-step residual quantiles x sqrt(k)."""
    mean = np.full(h, point)
    widen = np.sqrt(np.arange(1, h + 1))
    lo = np.empty((len(levels), h))
    hi = np.empty((len(levels), h))
    for j, lv in enumerate(levels):
        q_lo, q_hi = np.quantile(residuals, [(1 - lv / 100) / 2, (1 + lv / 100) / 2]) if residuals.size else (0, 0)
        lo[j] = point + min(float(q_lo), 0.0) * widen
        hi[j] = point + max(float(q_hi), 0.0) * widen
    return mean, lo, hi


class NaiveLastSettings(ForecasterSettings):
    """naive-last has only the shared settings (seed is accepted and unused: it is deterministic)."""


class _Flat(PanelForecaster[S]):
    """A flat forecast from a per-series rule; no series is too short for it."""

    needs_history: ClassVar[bool] = False

    def _fit(self, panel: Panel) -> dict[int, str]:
        return {}

    def _rule(self, y: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """(n,) the rule's forecast made after each step t (index t: from y[: t + 1])."""
        raise NotImplementedError

    def _predict(self, h: int, levels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._panel is not None
        p = self._panel
        parts = []
        for i, y in enumerate(p.values):
            obs = p.mask(i)
            f = self._rule(y, obs)
            res = (y[1:] - f[:-1])[obs[1:]]
            parts.append(flat_with_residuals(float(f[-1]), res, h, levels))
        return np.stack([q[0] for q in parts]), np.stack([q[1] for q in parts]), np.stack([q[2] for q in parts])


@FORECASTERS.register("naive-last")
class NaiveLast(_Flat[NaiveLastSettings]):
    """The last observed value, flat over the horizon."""

    Settings: ClassVar[type[ForecasterSettings]] = NaiveLastSettings
    learned: ClassVar[bool] = False

    def _rule(self, y: np.ndarray, obs: np.ndarray) -> np.ndarray:
        last_idx = np.maximum.accumulate(np.where(obs, np.arange(len(y)), -1))
        return np.where(last_idx >= 0, y[np.maximum(last_idx, 0)], y)


class WindowMeanSettings(ForecasterSettings):
    """How many recent steps are averaged."""

    window: int = Field(12, ge=1, description="steps of recent history averaged (observed values only)")


@FORECASTERS.register("window-mean")
class WindowMean(_Flat[WindowMeanSettings]):
    """The mean of the observed values of the last `window` steps, flat over the horizon."""

    Settings: ClassVar[type[ForecasterSettings]] = WindowMeanSettings
    learned: ClassVar[bool] = False

    def _rule(self, y: np.ndarray, obs: np.ndarray) -> np.ndarray:
        return rolling_window_means(y, obs, self.settings.window)
