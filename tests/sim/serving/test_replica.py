"""Pipelines on replicas: switch costs applied where a hand-worked replay says, and the router's warm-first rule."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails
from gpufleet.sim.serving import ReplicaProfile
from gpufleet.sim.serving.fleet import ServingSim
from gpufleet.sim.serving.meter import FleetMeter
from gpufleet.sim.serving.replica import NONE, Pipelines, Replica, SwitchCosts, route

ONE = ReplicaProfile(name="t", gpu_type="A10", work="fixed", work_settings={"slots": 1})
COSTS = SwitchCosts(base=np.array([7.0]), lora=np.array([2.0]), control=np.array([3.0]))  # one value each: exact


def fixed_fleet(arrival: list[float], service: list[float], pipes: Pipelines, replicas: int = 1) -> FleetMeter:
    scaler = AUTOSCALERS.build("target-tracking", guardrails=Guardrails(min_replicas=replicas, max_replicas=replicas))
    meter = FleetMeter()
    a, s = np.array(arrival), np.array(service)
    sim = ServingSim(
        a,
        np.zeros(len(a)),
        s,
        ONE,
        scaler,
        cold_start_s=0,
        initial_replicas=replicas,
        observers=[meter],
        slots=1,
        pipelines=pipes,
        switch_costs=COSTS,
    )
    sim.run()
    return meter


def test_switch_costs_land_where_the_hand_worked_replay_says() -> None:
    # one replica, one run at a time, model 0 loaded at the start. Requests (model, LoRA key x adapters, ControlNet):
    # r0 m0 at 0 runs [0, 10); r1 m1 at 1 waits, loads m1 (7) and runs 5: [10, 22); r2 m1 at 2 is warm: [22, 27);
    # r3 m1 with 2 adapters of group 5 at 30: 2 x 2 s of LoRA, [30, 39); r4 m1, same adapters, ControlNet at 40: 3 s,
    # [40, 48); r5 m0 with the same adapters at 50: base (7) and the adapters again (4, the old pipeline went): 61
    pipes = Pipelines(
        model=np.array([0, 1, 1, 1, 1, 0]),
        lora=np.array([NONE, NONE, NONE, 5, 5, 5]),
        lora_n=np.array([0, 0, 0, 2, 2, 2]),
        control=np.array([NONE, NONE, NONE, NONE, 0, NONE]),
        names=["m0", "m1"],
        default=0,
    )
    m = fixed_fleet([0, 1, 2, 30, 40, 50], [10, 5, 5, 5, 5, 5], pipes)
    assert m.start.tolist() == [0, 10, 22, 30, 40, 50]
    assert m.finish.tolist() == [10, 22, 27, 39, 48, 66]
    assert m.switch_s.tolist() == [0, 7, 0, 4, 3, 11]
    assert m.loads == {"base": 2, "lora": 2, "control": 1}
    assert m.load_s == {"base": 14.0, "lora": 8.0, "control": 3.0}


def test_without_pipelines_nothing_is_switched() -> None:
    scaler = AUTOSCALERS.build("target-tracking", guardrails=Guardrails(min_replicas=1, max_replicas=1))
    meter = FleetMeter()
    sim = ServingSim(
        np.array([0.0, 1.0]), np.zeros(2), np.array([3.0, 3.0]), ONE, scaler, cold_start_s=0, initial_replicas=1,
        observers=[meter], slots=1,
    )  # fmt: skip
    sim.run()
    assert meter.finish.tolist() == [3.0, 6.0] and meter.loads == {"base": 0, "lora": 0, "control": 0}
    with pytest.raises(ValueError, match="together"):
        ServingSim(np.zeros(1), np.zeros(1), np.ones(1), ONE, scaler, cold_start_s=0, initial_replicas=1,
                   switch_costs=COSTS)  # fmt: skip


def replica(rid: int, model: int, busy: int = 0, queued: int = 0) -> Replica:
    r = Replica(rid, 0.0, 0.0, state="ready", model=model, busy=busy, runs=busy)
    r.queue = deque(range(100, 100 + queued))
    return r


PIPES = Pipelines(
    model=np.array([1]), lora=np.array([NONE]), lora_n=np.array([0]), control=np.array([NONE]), names=["a", "b"]
)


def test_routing_prefers_a_warm_replica_with_room_even_when_a_cold_one_is_emptier() -> None:
    warm = replica(0, model=1, busy=1)
    cold = replica(1, model=0)
    assert route([warm, cold], 0, PIPES, capacity=2) is warm
    # among warm ones with room, the least outstanding, then the oldest
    warm2 = replica(2, model=1)
    assert route([warm, cold, warm2], 0, PIPES, capacity=2) is warm2


def test_routing_switches_an_idle_cold_replica_before_queueing_behind_a_full_warm_one() -> None:
    full = replica(0, model=1, busy=1, queued=2)
    idle = replica(1, model=0)
    assert route([full, idle], 0, PIPES, capacity=1) is idle
    busy_cold = replica(1, model=0, busy=1)
    # nobody idle: wait for the warm replica rather than switch a busy cold one
    assert route([full, busy_cold], 0, PIPES, capacity=1) is full
    # nobody warm, nobody idle: the least loaded
    other = replica(2, model=0, busy=1, queued=1)
    assert route([busy_cold, other], 0, PIPES, capacity=1) is busy_cold


def test_routing_without_pipelines_is_least_outstanding_then_oldest() -> None:
    a, b, c = replica(0, NONE, busy=2), replica(1, NONE, busy=1), replica(2, NONE, busy=1)
    assert route([a, b, c], 0, None, capacity=4) is b
