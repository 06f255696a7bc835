"""Adaptive conformal intervals (adaptive.py): coverage held under drift, strictly causal, SJF's key unchanged."""

from __future__ import annotations

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime import AutoRuntime, AutoSettings
from gpufleet.forecasting.runtime.adaptive import apply_moves, track_moves


def _drifting(n: int = 6000, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    # intervals calibrated on the first half (log durations N(8, 0.4)); after the origin the level rises by
    # one log unit and the spread doubles, as the ITP clusters drift between windows
    rng = np.random.default_rng(seed)
    sub = np.arange(n) * 900.0  # about 10 jobs in flight after the drift
    after = np.arange(n) >= n // 2
    y = np.where(after, rng.normal(9.0, 0.8, n), rng.normal(8.0, 0.4, n))
    q = np.column_stack([np.full(n, np.exp(8 - 0.51)), np.full(n, np.exp(8.0)), np.full(n, np.exp(8 + 0.51))])
    return q, sub, np.exp(y), float(sub[n // 2])


def _cover(q: np.ndarray, d: np.ndarray) -> float:
    return float(np.mean((d >= q[:, 0]) & (d <= q[:, 2])))


def test_the_move_brings_coverage_back_to_80_percent_after_a_drift() -> None:
    q, sub, d, origin = _drifting()
    test = sub >= origin
    assert _cover(q[test], d[test]) < 0.45  # the interval calibrated before the drift
    w = track_moves(q, sub, d, np.ones(len(q), bool), origin, rate=0.05)
    assert (w[~test] == 0).all() and (w[test] > 0).any()
    assert abs(_cover(apply_moves(q, w)[test], d[test]) - 0.8) < 0.04
    # no drift: it stays near 80% too, and a wide interval shrinks instead of widening
    wide = np.column_stack([q[:, 0] * np.exp(-2), q[:, 1], q[:, 2] * np.exp(2)])
    w2 = track_moves(wide, sub, d, np.ones(len(q), bool), origin, rate=0.05)
    assert w2[test].mean() < 0 and abs(_cover(apply_moves(wide, w2)[test], d[test]) - 0.8) < 0.04


def test_an_outcome_is_used_only_once_the_job_has_finished() -> None:
    q, sub, d, origin = _drifting(2000)
    w = track_moves(q, sub, d, np.ones(len(q), bool), origin, rate=0.05)
    # change every outcome that becomes known after t: nothing submitted at or before t may move
    t = float(sub[1500])
    later = sub + d > t
    d2 = np.where(later, d * 50.0, d)
    w2 = track_moves(q, sub, d2, np.ones(len(q), bool), origin, rate=0.05)
    assert np.array_equal(w[sub <= t], w2[sub <= t]) and not np.array_equal(w, w2)
    # jobs with no known duration (a live queue) teach nothing; inactive rows neither take nor teach
    assert not track_moves(q, sub, np.full(len(q), np.nan), np.ones(len(q), bool), origin, 0.05).any()
    active = sub < t
    w3 = track_moves(q, sub, d, active, origin, 0.05)
    assert (w3[~active] == 0).all() and np.array_equal(w3[active], w[active])
    # a job submitted at t sees an outcome known at t (submit + duration == t), not one known just after
    j = np.array([np.exp(7.0), np.exp(7.0), np.exp(7.0)])[None, :].repeat(2, 0)
    got = track_moves(j, np.array([0.0, 100.0]), np.array([100.0, 5.0]), np.ones(2, bool), 0.0, 0.05)
    assert got[1] > 0  # the first job's miss (100 s below p10) is known at 100 s
    late = track_moves(j, np.array([0.0, 100.0]), np.array([100.5, 5.0]), np.ones(2, bool), 0.0, 0.05)
    assert late[1] == 0


def test_auto_adapts_in_backtests_and_replays_without_moving_the_sjf_key() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    sub = np.sort(rng.uniform(0, 30 * 86400, n))
    level = np.where(sub > 20 * 86400, 9.5, 8.0)  # a drift after two thirds of the trace
    dur = np.exp(level + rng.normal(0, 0.5, n))
    j = pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)],
            "submit_time": sub,
            "duration": dur,
            "num_gpus": rng.choice([1.0, 8.0], n),
            "kind": ["train"] * n,
        }
    )
    members = ("user-history", "gpu-class")
    cut = float(sub[int(n * 0.6)])
    test = sub >= cut
    on = AutoRuntime(AutoSettings(members=members)).fit_at(j, cut).predict(j)
    off = AutoRuntime(AutoSettings(members=members, adapt_rate=0.0)).fit_at(j, cut).predict(j)

    def key(p: pl.DataFrame) -> np.ndarray:  # the simulator's: the geometric mean of the three
        return np.log(np.clip(p.select("p10", "p50", "p90").to_numpy(), 1e-9, None)).mean(axis=1)

    qon, qoff = on.select("p10", "p50", "p90").to_numpy(), off.select("p10", "p50", "p90").to_numpy()
    assert abs(_cover(qon[test], dur[test]) - 0.8) < abs(_cover(qoff[test], dur[test]) - 0.8)
    assert abs(_cover(qon[test], dur[test]) - 0.8) < 0.06
    assert np.allclose(key(on), key(off)) and np.array_equal(on["p50"].to_numpy(), off["p50"].to_numpy())
    # rolling (replay) mode: the same property; only weeks auto answered move
    ron = AutoRuntime(AutoSettings(members=members)).predict(j)
    roff = AutoRuntime(AutoSettings(members=members, adapt_rate=0.0)).predict(j)
    assert np.allclose(key(ron), key(roff)) and not np.allclose(ron["p90"].to_numpy(), roff["p90"].to_numpy())
    assert ((ron["p10"] <= ron["p50"]) & (ron["p50"] <= ron["p90"])).all()
