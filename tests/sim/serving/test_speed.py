"""A serving replay costs per request and per decision, not per simulated second of an idle fleet: skipping an idle
fleet's decisions and samples changes no result, and ten idle days cost next to nothing next to the same requests
without them (as a ratio to a baseline measured in the same run; no absolute timings)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails
from gpufleet.sim.serving import ReplicaProfile
from gpufleet.sim.serving.fleet import ServingSim
from gpufleet.sim.serving.meter import FleetMeter
from gpufleet.sim.serving.run import unlimited_concurrency

PROFILE = ReplicaProfile(name="t", gpu_type="A10", prefill_tps=1e9, decode_tps=1e9, max_seqs=4)
DAY = 86_400.0


def bursts(n_bursts: int, gap_s: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bursts of ~200 requests over 10 minutes, `gap_s` apart (idle in between)."""
    rng = np.random.default_rng(seed)
    arrival = np.concatenate([k * gap_s + np.sort(rng.uniform(0, 600, 200)) for k in range(n_bursts)])
    return arrival, rng.exponential(8.0, len(arrival))


def replay(policy: str, arrival: np.ndarray, service: np.ndarray, skip: bool) -> tuple[ServingSim, FleetMeter, float]:
    scaler = AUTOSCALERS.build(policy, guardrails=Guardrails(min_replicas=1, max_replicas=50))
    if scaler.sees_future:
        scaler.set_future(unlimited_concurrency(arrival, service))
    meter = FleetMeter()
    sim = ServingSim(
        arrival, np.zeros(len(arrival)), service, PROFILE, scaler, cold_start_s=40, initial_replicas=1,
        observers=[meter], skip_idle=skip,
    )  # fmt: skip
    began = time.perf_counter()
    sim.run()
    return sim, meter, time.perf_counter() - began


@pytest.mark.parametrize("policy", AUTOSCALERS.names())
def test_skipping_an_idle_fleet_changes_no_result(policy: str) -> None:
    arrival, service = bursts(4, 6 * 3600.0)
    fast, fm, _ = replay(policy, arrival, service, skip=True)
    slow, sm, _ = replay(policy, arrival, service, skip=False)
    assert np.array_equal(fm.start, sm.start) and np.array_equal(fm.finish, sm.finish)
    assert fm.timeline == sm.timeline, "the same per-minute rows, written from the unchanged fleet"
    assert fm.actions == sm.actions and fm.gpu_hours() == sm.gpu_hours()
    assert np.array_equal(fm.busy_int, sm.busy_int) and np.array_equal(fast.conc, slow.conc)
    taken = {d[0] for d in fm.decisions}
    assert taken <= {d[0] for d in sm.decisions} and len(taken) + fast.decisions_skipped == len(sm.decisions)
    if policy != "predictive":  # it promises nothing (its calibration remembers every decision)
        assert fast.events < slow.events / 3


def test_ten_idle_days_cost_a_fraction_of_the_requests() -> None:
    arrival, service = bursts(4, 3600.0)  # four bursts an hour apart: the baseline
    spread = arrival + np.repeat(np.arange(4) * 10 * DAY / 3, 200)  # the same bursts, ten idle days in between
    replay("kpa", arrival, service, skip=True)  # warm imports and caches for both
    base, _, base_s = replay("kpa", arrival, service, skip=True)
    idle, _, idle_s = replay("kpa", spread, service, skip=True)
    assert idle.events < 1.2 * base.events, (idle.events, base.events)
    # kpa decides every 2 s: taking each of the 432,000 decisions of ten days costs 130-240x the baseline on a
    # 2-core machine; skipped, the ten days cost 2-5x (their per-second arrays and 14,400 timeline rows)
    assert idle_s < 10 * base_s, (idle_s, base_s)
