"""FleetMeter, the serving replay's observer: what it measures from the fleet's events, by hand-checkable cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails
from gpufleet.sim.serving import ReplicaProfile
from gpufleet.sim.serving.fleet import ServingSim
from gpufleet.sim.serving.meter import FleetMeter

PROFILE = ReplicaProfile(name="t", gpu_type="A10", prefill_tps=1e9, decode_tps=1e9, max_seqs=2, gpus=2)


def fixed_fleet(arrival: list[float], service: list[float], replicas: int, **kw: Any) -> tuple[ServingSim, FleetMeter]:
    scaler = AUTOSCALERS.build(
        "target-tracking", None, guardrails=Guardrails(min_replicas=replicas, max_replicas=replicas)
    )
    meter = FleetMeter()
    a, s = np.array(arrival), np.array(service)
    sim = ServingSim(a, np.zeros(len(a)), s, PROFILE, scaler, initial_replicas=replicas, observers=[meter], **kw)
    return sim, meter


def test_starts_finishes_and_slot_integrals_of_a_hand_checked_replay() -> None:
    # one replica with two slots: r0 [0, 10), r1 [1, 5), r2 waits for r1's slot and runs [5, 8)
    sim, meter = fixed_fleet([0.0, 1.0, 2.0], [10.0, 4.0, 3.0], 1, cold_start_s=0)
    assert sim.run() == 10.0
    assert meter.start.tolist() == [0.0, 1.0, 5.0] and meter.finish.tolist() == [10.0, 5.0, 8.0]
    # busy slot-seconds: 10 + 4 + 3; ready slot-seconds: 2 slots until the replay's last event, the first
    # timeline sample at 60 s
    assert meter.busy_int.sum() == pytest.approx(17.0) and meter.slots_int.sum() == pytest.approx(120.0)
    assert meter.utilization() == pytest.approx(17.0 / 120.0)
    assert len(meter.timeline) == 1 and meter.timeline[0]["utilization"] == pytest.approx(17.0 / 120.0)
    assert meter.busy_int[:3].tolist() == [1.0, 2.0, 2.0]  # second 0: r0 alone; then both slots
    # the replica is counted until the last request finished: 10 s x 2 GPUs
    assert meter.gpu_hours() == pytest.approx(10 * 2 / 3600)
    assert meter.gpu_hours(since=4.0) == pytest.approx(6 * 2 / 3600)


def test_decisions_actions_and_replica_lifetimes_come_from_events() -> None:
    # demand far above one replica: the autoscaler orders more; each order, readiness and release is recorded
    n = 400
    arrival = np.linspace(0, 200, n)
    scaler = AUTOSCALERS.build("target-tracking", None, guardrails=Guardrails(min_replicas=1, max_replicas=6))
    meter = FleetMeter()
    sim = ServingSim(
        arrival, np.zeros(n), np.full(n, 20.0), PROFILE, scaler, cold_start_s=30, initial_replicas=1, observers=[meter]
    )
    last = sim.run()
    assert len(meter.decisions) > 0 and meter.actions, "it scaled"
    for t, ready, starting, _, desired in meter.decisions:
        assert ready + starting <= 6 and 1 <= desired <= 6 and t > 0
    for a in meter.actions:
        assert a["from"] != a["to"]
    assert len(meter.ordered) == len(sim.replicas)
    for r, ordered, gone in zip(sim.replicas, meter.ordered, meter.gone, strict=True):
        assert ordered == r.ordered and gone == r.gone_at and gone is not None and gone <= last
    # GPU-hours as the sum of every replica's lifetime
    life = sum((r.gone_at or 0.0) - r.ordered for r in sim.replicas)
    assert meter.gpu_hours() == pytest.approx(life * PROFILE.gpus / 3600)
    # the timeline: one row per minute while requests remain, never more running than ready slots
    assert [row["t"] for row in meter.timeline] == [60.0 * k for k in range(1, len(meter.timeline) + 1)]
    assert all(0.0 <= row["utilization"] <= 1.0 + 1e-9 for row in meter.timeline)


def test_a_replay_without_observers_measures_nothing_and_serves_the_same() -> None:
    arrival, service = [0.0, 1.0, 2.0, 2.5], [3.0, 3.0, 3.0, 1.0]
    bare, _ = fixed_fleet(arrival, service, 1, cold_start_s=0)
    bare.observers = []
    measured, meter = fixed_fleet(arrival, service, 1, cold_start_s=0)
    assert bare.run() == measured.run() and bare.events == measured.events
    assert np.array_equal(bare.conc, measured.conc) and np.isfinite(meter.finish).all()
