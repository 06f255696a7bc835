"""Contract of every registered Autoscaler's `quiet_until` (a replay skips an idle fleet's decisions up to it): every
decision it promises would keep the fleet does, and a policy that skipped them decides afterwards exactly as one
that took them all, through a later burst of demand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from tests.contract.recipe import members

from gpufleet.core.forecast import Forecast
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Autoscaler, FleetState, Guardrails

NAMES = members("autoscaler")
HISTORY = 3600
BUSY_UNTIL = 1200  # demand in the first 20 minutes, nothing until QUIET_END, then a burst
QUIET_END = 5000


def demand() -> np.ndarray:
    """Per-second concurrency: a busy start, a long idle stretch, a burst."""
    c = np.zeros(8000)
    c[:BUSY_UNTIL] = 6.0
    c[QUIET_END : QUIET_END + 300] = 25.0
    return c


def state(c: np.ndarray, now: float, current: int) -> FleetState:
    end = int(now)
    a = max(0, end - HISTORY)
    return FleetState(now, current, 0, 4, 2.0, 40.0, c[a:end], c[a:end] / 2.0)


def build(name: str) -> Autoscaler:
    a = AUTOSCALERS.build(name, guardrails=Guardrails(min_replicas=1, max_replicas=20))
    if a.sees_future:
        a.set_future(demand())
    return a


def forecast(now: float) -> Forecast:
    return Forecast(float(int(now) // 60 * 60), 60.0, np.zeros(5), np.zeros(5), 99)


def replay(name: str, skip: bool) -> tuple[dict[float, int], int]:
    """Decisions over the demand, applied at once (no cold start); with `skip`, the next decision after one that
    kept an idle fleet is the first period on or after its `quiet_until` (or the burst), as the replay does."""
    a, c = build(name), demand()
    current, t, out, skipped = 1, a.period_s, {}, 0
    while t < QUIET_END + 600:
        st = state(c, t, current)
        plan = a.decide(st, forecast(t) if a.uses_forecast else None)
        out[t] = plan.desired
        kept, current = plan.desired == current, plan.desired
        nt = t + a.period_s
        if skip and kept and BUSY_UNTIL <= int(t) < QUIET_END:  # nothing in the system from now to the burst
            until = min(a.quiet_until(st), float(QUIET_END))
            while nt < until:
                nt += a.period_s
                skipped += 1
        t = nt
    return out, skipped


@pytest.mark.parametrize("name", NAMES)
def test_skipped_decisions_change_nothing(name: str) -> None:
    taken, _ = replay(name, skip=False)
    kept, _ = replay(name, skip=True)
    assert all(kept[t] == taken[t] for t in kept), "a skip changed a later decision"
    times = sorted(taken)
    for before, t in itertools.pairwise(times):
        if t not in kept:
            assert taken[t] == taken[before], f"{name}: a promised-quiet decision at {t} changed the fleet"
    assert max(d for t, d in taken.items() if t >= QUIET_END) > 1, "the burst was met"


@pytest.mark.parametrize("name", ["target-tracking", "kpa", "oracle"])
def test_the_built_in_rules_do_skip_an_idle_fleet(name: str) -> None:
    _, skipped = replay(name, skip=True)
    assert skipped > 100


@pytest.mark.parametrize("name", NAMES)
def test_no_promise_under_demand_or_above_the_minimum(name: str) -> None:
    a = build(name)
    busy = state(np.full(8000, 6.0), 600.0, 1)
    a.decide(busy, forecast(600.0) if a.uses_forecast else None)
    assert a.quiet_until(busy) <= 600.0
    idle_above = state(np.zeros(8000), 7000.0, 5)  # idle but above the minimum: it would scale down
    assert a.quiet_until(idle_above) <= 7000.0
