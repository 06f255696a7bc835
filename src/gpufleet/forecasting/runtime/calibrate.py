"""Quantiles of prediction residuals when some outcomes are only lower bounds (jobs still running).

A residual is log1p(duration) - log1p(p50). For a job still running at the cutoff only log1p(elapsed) -
log1p(p50) is known, a lower bound: dropping those rows would make intervals too short exactly where the
long jobs are, so the quantiles come from the Kaplan-Meier estimate over residuals (lifelines), which
treats them as right-censored.
"""

from __future__ import annotations

import warnings

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)


def censored_quantiles(resid: np.ndarray, finished: np.ndarray, qs: tuple[float, ...] = QUANTILES) -> np.ndarray | None:
    """Quantiles of `resid` (censored rows are lower bounds); None when no row finished."""
    from lifelines import KaplanMeierFitter

    resid = np.asarray(resid, dtype=float)
    finished = np.asarray(finished, dtype=bool)
    if not finished.any():
        return None
    if finished.all():
        return np.quantile(resid, qs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' ApproximationWarning: a step function is exact here
        km = KaplanMeierFitter().fit(resid, finished)
        out = np.array([float(km.percentile(1.0 - q)) for q in qs])
    # Above the last finished residual the estimate never falls that low: use the largest residual seen
    # (finished or censored), the most a lower bound can say.
    top = float(resid.max())
    return np.where(np.isfinite(out), out, top)


def censored_log_errors(p50: np.ndarray, lower: np.ndarray, finished: np.ndarray) -> np.ndarray:
    """|log error| per row; for a censored row only the part certain already (predicting below elapsed)."""
    e = np.log1p(np.maximum(p50, 0.0)) - np.log1p(np.maximum(lower, 0.0))
    return np.where(finished, np.abs(e), np.maximum(-e, 0.0))
