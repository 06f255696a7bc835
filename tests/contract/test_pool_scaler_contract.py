"""Contract of every registered PoolScaler (plugins included): the policy recipe, and on any fleet state a plan
that orders only idle nodes not in service or on order, takes out only nodes in service, never both for one
node, says why, and is the same twice."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.contract.recipe import check_recipe, members

from gpufleet.optimizer.autoscaling.pools import POOL_SCALERS, PoolScaler, PoolState

NAMES = members("pool-scaler")


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("pool-scaler", name, PoolScaler)


@st.composite
def pool_states(draw: st.DrawFn) -> PoolState:
    """A fleet of up to 8 nodes, some in service, some on order, a queue of up to 5 jobs."""
    n = draw(st.integers(1, 8))
    gpus = np.array(draw(st.lists(st.sampled_from([1, 4, 8]), min_size=n, max_size=n)))
    state = np.array(draw(st.lists(st.sampled_from(["active", "provisioning", "off"]), min_size=n, max_size=n)))
    active, provisioning = state == "active", state == "provisioning"
    share = np.array(draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=n, max_size=n)))
    allocated = np.where(active, gpus * share, 0.0)
    now = 5000.0
    since = [math.inf, 0.0, 4000.0, 4900.0]
    low = np.array(
        [draw(st.sampled_from(since)) if a and s < 0.5 else math.inf for a, s in zip(active, share, strict=True)]
    )
    empty = np.array(
        [draw(st.sampled_from(since)) if a and s == 0 else math.inf for a, s in zip(active, share, strict=True)]
    )
    q = draw(st.integers(0, 5))
    return PoolState(
        now=now,
        gpu_type=draw(st.lists(st.sampled_from(["A", "B"]), min_size=n, max_size=n)),
        gpus=gpus,
        active=active,
        provisioning=provisioning,
        allocated=allocated,
        low_since=low,
        empty_since=empty,
        queue_gpus=np.array(draw(st.lists(st.sampled_from([1.0, 4.0, 8.0, 16.0]), min_size=q, max_size=q))),
        queue_types=draw(st.lists(st.sampled_from([None, {"A"}, {"B"}]), min_size=q, max_size=q)),
        queue_fits_now=np.array(draw(st.lists(st.booleans(), min_size=q, max_size=q)), dtype=bool),
        queue_predicted_wait=np.array(draw(st.lists(st.sampled_from([0.0, 60.0, 5000.0]), min_size=q, max_size=q))),
        queue_waited=np.array(draw(st.lists(st.sampled_from([0.0, 30.0, 900.0]), min_size=q, max_size=q))),
    )


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(pool_states())
def test_plans_touch_only_the_nodes_they_may(name: str, s: PoolState) -> None:
    plan = POOL_SCALERS.build(name).decide(s)
    assert all(not s.active[n] and not s.provisioning[n] for n in plan.add), "ordered a node in service or on order"
    assert all(s.active[n] for n in plan.remove), "took out a node not in service"
    assert not set(plan.add) & set(plan.remove)
    assert len(set(plan.add)) == len(plan.add) and len(set(plan.remove)) == len(plan.remove)
    assert plan.reason
    assert plan == POOL_SCALERS.build(name).decide(s), "not deterministic"
    assert POOL_SCALERS.build(name).period_s > 0
