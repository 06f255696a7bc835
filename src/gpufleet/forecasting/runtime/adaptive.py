"""Adaptive conformal intervals for runtimes: the p10-p90 move follows the coverage realized so far.

An interval calibrated once on the window before an origin covers the jobs after it only while the
trace's spread and level hold; on the ITP clusters they drift (docs/results.md). Adaptive conformal
inference (Gibbs & Candes 2021) in its additive form (conformal quantile tracking, Angelopoulos et al.
2023) corrects this online: each time a job finishes, the log move of both interval ends goes up by
`rate * level` if the job fell outside the interval it was given, and down by `rate * (1 - level)` if it
fell inside, so the long-run share outside is held near 1 - level whatever the drift.

Strictly causal: a job's outcome is used only once it is known, at submit + duration, and a job
submitted at time t gets the move reached by the outcomes known at t (finishes at t included). Both
ends move by the same amount, so the geometric mean of p10, p50, p90 (SJF's rank key) stays unchanged.
"""

from __future__ import annotations

import numpy as np


def ends_moved(lq: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log p10, log p90) of log-quantile rows `lq` moved by `w` per row; a shrink stops at p50."""
    w = np.maximum(w, -np.minimum(lq[:, 1] - lq[:, 0], lq[:, 2] - lq[:, 1]))
    return lq[:, 0] - w, lq[:, 2] + w


def track_moves(
    q: np.ndarray,
    submit: np.ndarray,
    duration: np.ndarray,
    active: np.ndarray,
    start: float,
    rate: float,
    level: float = 0.8,
) -> np.ndarray:
    """Extra log move per row of the (n, 3) p10/p50/p90 rows `q`, adapted online to realized coverage.

    Only `active` rows take part (rows another predictor answered neither receive a move nor teach one);
    only jobs submitted at or after `start` (the calibration origin) teach, so the move is 0 until the
    first of them finishes.
    `duration` is NaN where it is not known (a live job)."""
    n = len(q)
    out = np.zeros(n)
    if rate <= 0 or n == 0:
        return out
    lq = np.log(np.maximum(q, 1e-9))
    y = np.log(np.maximum(np.nan_to_num(duration, nan=0.0), 1e-9))
    end = submit + duration  # NaN: never known
    act = np.flatnonzero(active)
    # only intervals issued since `start` teach: the jobs still running at the fit were counted there already
    # (as Kaplan-Meier lower bounds); teaching with them too pushed Philly's validation coverage to 0.85
    teach = act[np.isfinite(end[act]) & (submit[act] >= start)]
    # a zero-length job finishes just after its own submission (it cannot teach its own interval)
    t_end = np.maximum(end[teach], np.nextafter(submit[teach], np.inf))
    # event stream: finishes before submissions at the same instant (an outcome known at t is usable at t)
    times = np.concatenate([t_end, submit[act]])
    kinds = np.concatenate([np.zeros(len(teach), np.int8), np.ones(len(act), np.int8)])
    rows = np.concatenate([teach, act])
    order = np.lexsort((kinds, times))
    up, down = rate * level, rate * (1.0 - level)
    cap = np.minimum(lq[:, 1] - lq[:, 0], lq[:, 2] - lq[:, 1])  # the most a shrink can take (to p50)
    still = q[:, 0] < 1e-9  # rows apply_moves leaves alone
    cur = 0.0
    given = np.zeros(n)
    for k in order.tolist():
        i = rows[k]
        if kinds[k]:
            given[i] = cur
            continue
        w = 0.0 if still[i] else max(given[i], -cap[i])
        cur += up if (y[i] < lq[i, 0] - w or y[i] > lq[i, 2] + w) else -down
    out[act] = given[act]
    return out


def apply_moves(q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """p10 / exp(w) and p90 * exp(w) per row, the shrink capped at p50 (the rank key is unchanged)."""
    if not np.any(w):
        return q
    lq = np.log(np.maximum(q, 1e-9))
    lo, hi = ends_moved(lq, w)
    out = q.copy()
    # a p10 at 0 s stays there (the simulator clips it to 1e-9 s): moving only p90 would move the rank key
    moved = (w != 0) & (q[:, 0] >= 1e-9)
    out[moved, 0] = np.exp(lo[moved])
    out[moved, 2] = np.exp(hi[moved])
    return out
