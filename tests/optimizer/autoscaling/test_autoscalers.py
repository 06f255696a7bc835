"""Autoscalers: HPA formulas by hand, KPA panic, predictive uses its forecast (the contract every member keeps is
tests/contract/test_autoscaler_contract.py)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from tests.optimizer.autoscaling.states import state

from gpufleet.optimizer.autoscaling import AUTOSCALERS, Forecast, Guardrails, Oracle


def fresh(name: str, guard: Guardrails | None = None) -> object:
    a = AUTOSCALERS.build(name, None, guardrails=guard)
    if isinstance(a, Oracle):
        a.set_future(np.full(10_000, 30.0))
    return a


@pytest.mark.parametrize("name", AUTOSCALERS.names())
def test_reacts_to_a_step_up_within_its_delay(name: str) -> None:
    """Demand jumps from 20 to 100 in flight (2 -> 10+ replicas at 10 slots); each policy orders more
    replicas by its first decision that sees one full period of the new level (documented delays:
    HPA 15 s, KPA 6 s panic window, predictive 15 s, oracle ahead of time)."""
    a = fresh(name)
    if isinstance(a, Oracle):
        a.set_future(np.concatenate([np.full(600, 20.0), np.full(600, 100.0)]))
    before = np.full(600, 20.0)
    a.decide(state(before, ready=3))  # type: ignore[attr-defined]
    period = int(a.period_s)  # type: ignore[attr-defined]
    after = np.concatenate([before, np.full(period, 100.0)])
    fc = Forecast(0.0, 15.0, np.full(5, 50.0), np.full(5, 50.0), 99)
    plan = a.decide(state(after, now=600.0 + period, ready=3), fc)  # type: ignore[attr-defined]
    assert plan.desired > 3


def test_hpa_formula_and_tolerance() -> None:
    # 4 replicas x 10 slots, target 70% = 7 in flight per replica
    hpa = AUTOSCALERS.build("target-tracking")
    assert hpa.decide(state(4 * 7.5)).desired == 4  # ratio 1.07: inside the 10% tolerance, no change
    hpa = AUTOSCALERS.build("target-tracking")
    assert hpa.decide(state(4 * 8.0)).desired == math.ceil(4 * 8.0 / 7)  # ratio 1.14 -> ceil(4.57) = 5
    hpa = AUTOSCALERS.build("target-tracking")
    # scale-up limit: max(100%, 4 pods) per period -> from 4 at most 8, however large the metric
    assert hpa.decide(state(1000.0)).desired == 8


def test_hpa_scale_down_waits_for_the_stabilization_window() -> None:
    hpa = AUTOSCALERS.build("target-tracking")
    assert hpa.decide(state(4 * 7.0, now=0.0)).desired == 4
    # demand falls to 1 replica's worth: the highest recommendation of the last 300 s (4) holds
    for t in (15.0, 150.0, 299.0):
        assert hpa.decide(state(7.0, now=t)).desired == 4
    assert hpa.decide(state(7.0, now=330.0)).desired == 1  # the 4 left the window


def test_kpa_panics_at_twice_the_capacity_and_holds() -> None:
    kpa = AUTOSCALERS.build("kpa")
    base = np.full(600, 2 * 7.0)  # 2 replicas' worth, stable
    assert kpa.decide(state(base, ready=2)).desired == 2
    burst = np.concatenate([base, np.full(6, 6 * 7.0)])  # panic window sees 6 replicas' worth >= 2 x 2
    p = kpa.decide(state(burst, ready=2, now=606.0))
    assert p.desired == 6 and "panic" in p.reason
    calm = np.concatenate([burst, np.full(6, 2 * 7.0)])
    assert kpa.decide(state(calm, ready=6, now=612.0)).desired == 6, "no scale-down while panicking"


def test_predictive_provisions_the_forecast_upper_quantile() -> None:
    pred = AUTOSCALERS.build("predictive", {"calibrate": 0.0, "target_util": 0.7})
    st = state(2 * 7.0, ready=2)
    # forecast: up to 20 req/s x 2 s = 40 in flight at 70% of 10 slots -> ceil(5.7) = 6 replicas
    fc = Forecast(600.0, 60.0, np.full(3, 5.0), np.full(3, 20.0), 99)
    p = pred.decide(st, fc)
    assert p.desired == 6 and "forecast" in p.reason
    assert pred.decide(st, None).desired == 2  # no forecast: the reactive answer


def test_predictive_calibrated_margin_learns_how_far_the_realized_peak_exceeds_the_forecast() -> None:
    # the point forecast says 5 req/s x 2 s = 10 in flight; the realized concurrency (4 between bursts)
    # peaks at 25 every 30 s, so every 55 s window (cold start + period) holds a peak 15 above the forecast
    pred = AUTOSCALERS.build("predictive", {"calibrate": 0.7, "target_util": 1.0, "calibrate_min": 20})
    fc = Forecast(0.0, 60.0, np.full(3, 5.0), np.full(3, 6.0), 99)
    conc = np.full(3600, 4.0)
    conc[::30] = 25.0
    first = pred.decide(state(conc[:600], now=600.0, ready=1), fc)
    # no misses scored yet: the interval's upper end, 6 req/s x 2 s = 12 in flight / 10 slots -> 2
    assert first.desired == 2 and "req/s" in first.reason
    plans = [pred.decide(state(conc[: 600 + 15 * k], now=600.0 + 15 * k, ready=1), fc) for k in range(1, 60)]
    # once 20 misses are scored: (10 + 15) / 10 slots -> 3 replicas
    assert "calibrated margin" in plans[-1].reason and plans[-1].desired == 3
    assert all(p.desired == 2 for p in plans[:20])


def margin(reason: str) -> float:
    m = re.search(r"\+ ([0-9.]+) calibrated margin", reason)
    return float(m.group(1)) if m else math.nan


def test_predictive_calibrated_margin_forgets_old_misses() -> None:
    pred = AUTOSCALERS.build(
        "predictive", {"calibrate": 0.9, "target_util": 1.0, "calibrate_window_s": 300, "calibrate_min": 5}
    )
    fc = Forecast(0.0, 60.0, np.full(3, 5.0), np.full(3, 5.0), 99)
    conc = np.full(7200, 4.0)
    conc[:1800:20] = 60.0  # bursts in the first half hour only: 50 above the forecast's 10 in flight
    seen = []
    for k in range(200):
        now = 300.0 + 15 * k
        plan = pred.decide(state(conc[: int(now)], now=now, ready=1), fc)
        seen.append((now, margin(plan.reason), plan.desired))
    assert all(m == 50.0 and d == 6 for t, m, d in seen if 1200 <= t < 1800)  # (10 + 50) / 10
    # misses older than the 300 s window are gone: the margin is 0 again (realized 4 < forecast 10)
    late = [(m, d) for t, m, d in seen if t >= 1800 + 55 + 300 + 15]
    assert late and all(m == 0.0 and d == 1 for m, d in late)


def test_predictive_once_calibrated_drops_the_hpa_hold_but_not_before() -> None:
    # six replicas carry 4 in flight (10 slots each); the forecast says 2 req/s x 2 s = 4 in flight and is right
    fc = Forecast(0.0, 60.0, np.full(3, 2.0), np.full(3, 2.0), 99)
    conc = np.full(3600, 4.0)
    calibrated = AUTOSCALERS.build("predictive", {"calibrate_min": 5})
    interval = AUTOSCALERS.build("predictive", {"calibrate": 0.0})
    got: dict[str, list[tuple[float, int]]] = {"cal": [], "int": []}
    for k in range(20):
        now = 600.0 + 15 * k
        st = state(conc[: int(now)], now=now, ready=6)
        got["cal"].append((now, calibrated.decide(st, fc).desired))
        got["int"].append((now, interval.decide(st, fc).desired))
    # five misses (0 each) are scored by 600 + 55 + 4 x 15 s: then (4 + 0) / 10 slots -> 1 replica at once
    assert all(d == 1 for t, d in got["cal"] if t >= 735)
    # the interval rule keeps the HPA floor, which holds the six it started with for its 300 s window
    assert all(d == 6 for t, d in got["int"] if t < 900)
