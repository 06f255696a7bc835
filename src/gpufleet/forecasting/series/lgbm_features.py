"""Features for the global LightGBM forecaster, built from a window of past (scaled) values.

One function builds the rows for training and for every recursive step, so the two can never
disagree. A row predicts z_t from the W values before t (W = `FeatureSpec.width`):
series code (categorical), lags z_{t-1..t-k}, the one-season lag z_{t-m} (when used), rolling mean
and standard deviation of the last w values for each window w, and the calendar of t (hour of day,
day of week; each only when the data spans enough days to have seen it repeat).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gpufleet.forecasting.series.panel import DAY_US

HOUR_US = 3_600 * 10**6


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a model uses; fixed at fit time from the settings and the data span."""

    n_lags: int
    windows: tuple[int, ...]
    season_lag: int  # 0 = no seasonal lag
    hour: bool
    dow: bool
    diff: bool = False  # the target is z_t - z_{t-1} (a step from the last value) instead of z_t

    @property
    def width(self) -> int:
        """Past values a row needs."""
        return max(self.n_lags, self.season_lag, *self.windows, 1)

    def names(self) -> list[str]:
        """Feature names in column order (column 0 is the categorical series code)."""
        out = ["series", *(f"lag{j}" for j in range(1, self.n_lags + 1))]
        out += [f"lag{self.season_lag}_season"] if self.season_lag else []
        out += [f"{s}{w}" for w in self.windows for s in ("roll_mean", "roll_std")]
        out += ["hour"] if self.hour else []
        out += ["dow"] if self.dow else []
        return out

    def build(self, past: np.ndarray, code: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """Feature matrix (rows, features): past is (rows, width) oldest first, t_us the target times."""
        cols = [code.astype(np.float64)]
        cols += [past[:, -j] for j in range(1, self.n_lags + 1)]
        if self.season_lag:
            cols.append(past[:, -self.season_lag])
        for w in self.windows:
            win = past[:, -w:]
            cols += [win.mean(axis=1), win.std(axis=1)]
        if self.hour:
            cols.append((t_us % DAY_US) / HOUR_US)
        if self.dow:
            # 1970-01-01 was a Thursday: +3 makes Monday 0.
            cols.append(((t_us // DAY_US + 3) % 7).astype(np.float64))
        return np.column_stack(cols)


def training_rows(
    spec: FeatureSpec, z: np.ndarray, code: int, first_us: int, step_us: int
) -> tuple[np.ndarray, np.ndarray]:
    """(X, target) for every t with a full window behind it in one scaled series."""
    w = spec.width
    if len(z) <= w:
        return np.empty((0, len(spec.names()))), np.empty(0)
    past = np.lib.stride_tricks.sliding_window_view(z, w)[:-1]
    t_us = first_us + step_us * np.arange(w, len(z), dtype=np.int64)
    target = z[w:] - z[w - 1 : -1] if spec.diff else z[w:]
    return spec.build(past, np.full(len(past), code), t_us), target


def recursive(
    predict: Callable[[np.ndarray], np.ndarray],
    spec: FeatureSpec,
    past: np.ndarray,
    code: np.ndarray,
    t0_us: np.ndarray,
    step_us: int,
    h: int,
) -> np.ndarray:
    """(rows, h) forecasts: each step's prediction becomes the newest lag of the next step."""
    buf = past[:, -spec.width :].copy()
    out = np.empty((len(past), h))
    for k in range(h):
        step = predict(spec.build(buf, code, t0_us + k * step_us))
        out[:, k] = buf[:, -1] + step if spec.diff else step
        buf = np.concatenate([buf[:, 1:], out[:, k : k + 1]], axis=1)
    return out
