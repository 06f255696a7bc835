"""Contract of every registered Autoscaler (plugins included): the policy recipe, decisions inside the run's
guardrails (min/max replicas, the largest step), deterministic, never a scale-down on missing telemetry (a gap
is not a drop in demand, docs/autoscaling.md), and a memory that survives a JSON round trip (what the live hook
keeps across a restart)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.contract.recipe import check_recipe, members
from tests.optimizer.autoscaling.states import state

from gpufleet.core.forecast import Forecast
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Autoscaler, FleetState, Guardrails

NAMES = members("autoscaler")


def fresh(name: str, guardrails: Guardrails | None = None) -> Autoscaler:
    """The member with its defaults; one that reads the future (the oracle) is handed a steady one."""
    a = AUTOSCALERS.build(name, guardrails=guardrails or Guardrails())
    if hasattr(a, "set_future"):
        a.set_future(np.full(10_000, 30.0))
    return a


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("autoscaler", name, Autoscaler, guardrails=Guardrails())


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([0.0, 1.0, 3.0, 30.0, 120.0, 500.0]),
    st.integers(0, 12),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, 4),
)
def test_decisions_stay_within_the_guardrails(
    name: str, conc: float, ready: int, starting: int, lo: int, step: int
) -> None:
    g = Guardrails(min_replicas=lo, max_replicas=lo + 6, max_step=step)
    s = state(np.full(600, conc), ready=ready, starting=starting)
    fc = Forecast(600.0, 60.0, np.full(5, conc / 2), np.full(5, conc / 2), 99)
    p1, p2 = fresh(name, g).decide(s, fc), fresh(name, g).decide(s, fc)
    assert (p1.desired, p1.reason) == (p2.desired, p2.reason), "not deterministic"
    assert p1.reason
    assert lo <= p1.desired <= lo + 6, "outside min/max replicas"
    # the step limit holds from the replicas that exist, unless min/max force a larger move
    current = ready + starting
    assert abs(p1.desired - current) <= step or p1.desired in (lo, lo + 6), "a larger step than max_step"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ready", [0, 1, 4, 9])
def test_missing_telemetry_never_scales_down(name: str, ready: int) -> None:
    plan = fresh(name).decide(state(np.full(600, np.nan), ready=ready))
    assert plan.desired == max(ready, 1), f"{plan.desired} replicas from {ready} with no telemetry at all"
    recent_gap = np.concatenate([np.full(540, 40.0), np.full(60, np.nan)])
    plan = fresh(name).decide(state(recent_gap, ready=ready))
    assert plan.desired >= max(ready, 1), f"scaled down to {plan.desired} from {ready} on missing data"


@pytest.mark.parametrize("name", NAMES)
def test_memory_round_trip_gives_the_same_decisions(name: str) -> None:
    """Two copies decide on a burst then a drop; one is rebuilt from the other's JSON memory halfway
    (a restart): from then on both must decide identically, holds and calibration included."""
    rng = np.random.default_rng(7)
    demand = np.concatenate([np.full(400, 10.0), np.full(20, 60.0), np.full(440, 12.0)]) + rng.uniform(0, 2, 860)
    fields = AUTOSCALERS.settings_model(name).model_fields  # calibrate within the run where a member can
    settings = {k: v for k, v in {"calibrate_min": 3.0, "calibrate_window_s": 600.0}.items() if k in fields}

    def build() -> Autoscaler:
        a = AUTOSCALERS.build(name, settings)
        if hasattr(a, "set_future"):  # the oracle reads the demand to come
            a.set_future(demand)
        return a

    a, b = build(), None
    replicas = 2
    for t in range(300, 860, 5):
        fc = Forecast(float(t), 60.0, np.full(3, demand[t] / 2.0), np.full(3, demand[t] / 1.5), 99)
        if t == 440:  # 20 s after the burst: the holds are active
            b = build()
            b.recall(json.loads(json.dumps(a.memory())))
        s = FleetState(
            now=float(t),
            ready=replicas,
            starting=0,
            slots_per_replica=8,
            service_s=2.0,
            cold_start_s=20.0,
            concurrency=demand[: t + 1],
            arrivals=np.full(t + 1, 3.0),
        )
        pa = a.decide(s, fc)
        if b is not None:
            pb = b.decide(s, fc)
            assert (pb.desired, pb.reason) == (pa.desired, pa.reason), t
        replicas = pa.desired
    assert b is not None
