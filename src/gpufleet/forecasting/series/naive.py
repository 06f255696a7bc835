"""Seasonal-naive on one array: the forecast every model falls back to, with empirical-residual intervals.

Point: the value one season earlier, repeating the last observed season (m = 1 is the plain naive).
Intervals: empirical quantiles of the in-sample seasonal differences r_t = y_t - y_{t-m}; step k of the
horizon lies ceil(k/m) seasons ahead, and the interval offsets grow with sqrt(ceil(k/m)) as they would
for a seasonal random walk. The (1-L)/2 and (1+L)/2 quantiles keep any skew of the residuals; each
offset is clipped at 0 so the interval always contains the point (a drifting series would otherwise
put both quantiles on one side).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def seasonal_naive(y: np.ndarray, m: int, h: int, levels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (h,), lo (levels, h), hi (levels, h)) for one series; needs len(y) >= m >= 1."""
    n = len(y)
    if n < m or m < 1:
        raise ValueError(f"seasonal-naive needs at least one season: {n} points < season {m}")
    k = np.arange(h)
    mean = y[n - m + (k % m)]
    seasons_ahead = np.sqrt(k // m + 1.0)
    r = y[m:] - y[:-m]
    lo = np.empty((len(levels), h))
    hi = np.empty((len(levels), h))
    for j, lv in enumerate(levels):
        if r.size:
            q_lo, q_hi = np.quantile(r, [(1 - lv / 100) / 2, (1 + lv / 100) / 2])
        else:
            q_lo = q_hi = 0.0  # one point: no residual to learn a spread from
        lo[j] = mean + min(float(q_lo), 0.0) * seasons_ahead
        hi[j] = mean + max(float(q_hi), 0.0) * seasons_ahead
    return mean, lo, hi


def fallback_season(n: int, season: int) -> int:
    """The season a fallback uses: the model's season when the series holds more than one, else 1 (naive)."""
    return season if n > season else 1


def fallback_label(n: int, season: int) -> str:
    """Which fallback a series of n points gets, in words."""
    return f"seasonal-naive (season {season})" if fallback_season(n, season) > 1 else "naive"
