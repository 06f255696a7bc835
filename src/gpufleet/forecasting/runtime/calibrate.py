"""Interval arithmetic for runtime predictions, including outcomes that are only lower bounds (jobs still running).

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


def geo_blend(ps: list[np.ndarray]) -> np.ndarray:
    """The geometric mean (in log1p) of several members' predictions, element by element."""
    return np.expm1(np.mean([np.log1p(np.maximum(p, 0.0)) for p in ps], axis=0))


def blend_quantiles(member_q: list[np.ndarray], point_offsets: np.ndarray) -> np.ndarray:
    """(n, 3) p10/p50/p90 of a blend: the members' own per-job quantiles averaged in log1p; a point member
    (p10 = p90, user-history) takes `point_offsets` (log1p, around its p50) instead."""
    logs = []
    for q in member_q:
        lq = np.log1p(np.maximum(q, 0.0))
        if np.allclose(lq[:, 0], lq[:, 2]):
            lq = lq[:, 1:2] + point_offsets[None, :]
        logs.append(lq)
    return np.expm1(np.maximum(np.sort(np.mean(logs, axis=0), axis=1), 0.0))


def residual_offsets(p50: np.ndarray, lower: np.ndarray, finished: np.ndarray, recenter: bool) -> np.ndarray:
    """log1p offsets (p10, p50, p90) around a point prediction from its (censored) residuals."""
    resid = np.log1p(np.maximum(lower, 0.0)) - np.log1p(np.maximum(p50, 0.0))
    q = censored_quantiles(resid, finished) if len(resid) else None
    if q is None:
        return np.zeros(3)
    q = np.sort(q)
    if recenter:
        return q
    # the window's spread around its own median, placed around the prediction: a shift between windows then
    # moves the interval with the median instead of collapsing one side
    return np.array([min(q[0] - q[1], 0.0), 0.0, max(q[2] - q[1], 0.0)])


def conformal_widen(q: np.ndarray, lower: np.ndarray, finished: np.ndarray, level: float = 0.8) -> float:
    """Conformalized quantile regression (Romano et al. 2019): how far (log) to move both ends of the p10-p90
    intervals `q` so that they cover `level` of these jobs. A running job's score is a lower bound (it may
    still end far above p90), so the quantile of the scores is a Kaplan-Meier one."""
    lq = np.log(np.maximum(q, 1.0))
    y = np.log(np.maximum(lower, 1.0))
    score = np.maximum(lq[:, 0] - y, y - lq[:, 2])
    # still running: the score is at least y - p90 once y is past the middle, else only the smallest possible
    mid = (lq[:, 0] + lq[:, 2]) / 2
    score = np.where(finished, score, np.where(y > mid, y - lq[:, 2], (lq[:, 0] - lq[:, 2]) / 2))
    got = censored_quantiles(score, finished, (level,))
    return float(got[0]) if got is not None else 0.0


def move_ends(q: np.ndarray, widen: float) -> np.ndarray:
    """p10 / exp(w) and p90 * exp(w) per job: the geometric mean of p10, p50, p90 (SJF's rank key) stays as it
    was. A shrink stops where an end would cross p50, so the move is the same at both ends of every job."""
    if widen == 0:
        return q
    lq = np.log(np.maximum(q, 1e-9))
    w = np.full(len(q), widen)
    if widen < 0:
        w = np.maximum(w, -np.minimum(lq[:, 1] - lq[:, 0], lq[:, 2] - lq[:, 1]))
    out = q.copy()
    out[:, 0] = q[:, 0] * np.exp(-w)
    out[:, 2] = q[:, 2] * np.exp(w)
    return out
