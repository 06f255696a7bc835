"""Heterogeneous serving fleets: which GPU type an autoscaler's decision adds or takes away (hand-worked), GPU-hours
and $ per type, and one-type fleets that replay exactly as a fleet without types."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import PriceTable, default_prices
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails
from gpufleet.sim.serving import ReplicaProfile, ServingConfig, simulate_serving
from gpufleet.sim.serving.fleet import ServingSim
from gpufleet.sim.serving.gputypes import FleetTypes, ReplicaType, fleet_types, parse_gpu_types, usable_types
from gpufleet.sim.serving.meter import FleetMeter
from gpufleet.sim.serving.replica import Replica


def types(*specs: tuple[str, float, float, int | None]) -> FleetTypes:
    """(name, speed, $ per GPU-hour, quota), one GPU per replica."""
    return FleetTypes(tuple(ReplicaType(n, s, 1, p, q) for n, s, p, q in specs))


# A: the reference; B: cheap per throughput but small; C: the cheapest throughput, in big replicas
A, B, C = ("A", 1.0, 1.0, None), ("B", 0.5, 0.45, None), ("C", 4.0, 3.4, None)


def names(t: FleetTypes, plan: list[int]) -> list[str]:
    return [t.types[k].gpu_type for k in plan]


def test_cover_chooses_the_cheapest_way_to_add_the_capacity_asked_for() -> None:
    t = types(A, B)
    # 3 reference replicas: 3 A = $3.00, 6 B = $2.70 -> six B
    assert names(t, t.cover(3.0, [0, 0])) == ["B"] * 6
    # 1.2: 2 A = $2.00; 3 B = $1.35 (two for the bulk, one for the 0.2 left)
    assert names(t, t.cover(1.2, [0, 0])) == ["B"] * 3
    # nothing asked, nothing added
    assert t.cover(0.0, [0, 0]) == [] and t.cover(-2.0, [0, 0]) == []


def test_cover_mixes_a_big_cheap_replica_with_a_small_one_for_the_rest() -> None:
    t = types(A, B, C)
    # 5: 5 A = $5.00; 10 B = $4.50; 2 C = $6.80; one C (4, the cheapest throughput) + the cheapest cover of the 1
    # left (1 A $1.00, 2 B $0.90, 1 C $3.40): C + 2 B = $4.30
    assert names(t, t.cover(5.0, [0, 0, 0])) == ["C", "B", "B"]
    # 4: one C = $3.40 (8 B = $3.60, 4 A = $4.00)
    assert names(t, t.cover(4.0, [0, 0, 0])) == ["C"]


def test_quotas_send_the_rest_to_the_next_cheapest_type() -> None:
    t = types(A, ("B", 0.5, 0.45, 2))
    # B may add two more at most: 6 B is out; B B + one A for the 0.2 left = $1.90 beats 2 A = $2.00
    assert names(t, t.cover(1.2, [0, 0])) == ["B", "B", "A"]
    # B already has its two: A alone
    assert names(t, t.cover(1.2, [0, 2])) == ["A", "A"]
    # every type capped below the need: what fits, cheapest throughput first
    capped = types(("A", 1.0, 1.0, 1), ("B", 0.5, 0.45, 2))
    assert names(capped, capped.cover(5.0, [0, 0])) == ["B", "B", "A"]


def replica(rid: int, kind: int, t: FleetTypes, state: str, outstanding: int = 0) -> Replica:
    rt = t.types[kind]
    r = Replica(rid, 0.0, 0.0, speed=rt.speed, gpu_type=rt.gpu_type, gpus=rt.gpus, kind=kind, state=state)
    r.busy = outstanding
    return r


def test_shed_takes_the_dearest_throughput_first_and_never_below_what_is_asked() -> None:
    t = types(A, B, C)  # $ per reference replica-hour: A 1.00, B 0.90, C 0.85
    fleet = [
        replica(0, 2, t, "ready", 3),  # C
        replica(1, 0, t, "ready", 2),  # A, busier
        replica(2, 0, t, "ready", 0),  # A
        replica(3, 0, t, "starting"),  # A
        replica(4, 1, t, "ready", 0),  # B
        replica(5, 0, t, "draining"),  # already going: never counted again
    ]
    # 2.5 fewer: the A's first (starting, then the idlest ready): after two, 0.5 is left: the busier A (1) no
    # longer fits, B (0.5) does; C (4) never does
    assert [r.rid for r in t.shed(2.5, fleet)] == [3, 2, 4]
    assert [r.rid for r in t.shed(3.0, fleet)] == [3, 2, 1]
    assert [r.rid for r in t.shed(3.5, fleet)] == [3, 2, 1, 4]
    assert [r.rid for r in t.shed(0.4, fleet)] == [], "no replica is small enough: the fleet keeps its capacity"


def test_one_type_shed_order_is_the_old_one() -> None:
    t = types(A)
    fleet = [replica(0, 0, t, "ready", 2), replica(1, 0, t, "ready", 0), replica(2, 0, t, "starting"),
             replica(3, 0, t, "starting"), replica(4, 0, t, "ready", 0)]  # fmt: skip
    # starting ones cancelled newest first, then ready ones fewest outstanding first, newest first on ties
    assert [r.rid for r in t.shed(4.0, fleet)] == [3, 2, 4, 1]


def test_parse_gpu_types_and_its_errors() -> None:
    assert parse_gpu_types("L4:20, A10 ,H100") == [("L4", 20), ("A10", None), ("H100", None)]
    for bad in ("", ",", "L4:0", "L4:x", ":3"):
        with pytest.raises(GpufleetError, match="--gpu-types"):
            parse_gpu_types(bad)


def test_fleet_types_need_a_speed_and_in_a_mix_a_price() -> None:
    p = ReplicaProfile(name="p", gpu_type="A10", work="diffusion", speeds={"H100": 3.5, "X9": {"speed": 2}})
    prices = default_prices()
    assert fleet_types(p, None, prices).types == (ReplicaType("A10", 1.0, 1, prices.rate("A10")),)
    t = fleet_types(p, [("A10G", None), ("H100", 4)], prices)  # A10G is the A10 by another name
    assert [(x.speed, x.max_replicas) for x in t.types] == [(1.0, None), (3.5, 4)]
    with pytest.raises(GpufleetError, match="no speed on L4"):
        fleet_types(p, [("L4", None)], prices)
    with pytest.raises(GpufleetError, match="no price for X9"):
        fleet_types(p, [("A10", None), ("X9", None)], prices)
    assert fleet_types(p, [("X9", None)], prices).types[0].price is None, "one type alone needs no price"
    with pytest.raises(GpufleetError, match="named twice"):
        fleet_types(p, [("A10", None), ("A10G", None)], prices)
    with pytest.raises(ValueError, match="own type"):
        ReplicaProfile(name="p", gpu_type="A10", work="diffusion", speeds={"A10G": 2.0})


def test_usable_types_leave_out_a_type_too_slow_for_the_slo() -> None:
    t = types(A, B, C)
    kept, why = usable_types(t, lambda speed: speed >= 1.0)
    assert [x.gpu_type for x in kept.types] == ["A", "C"] and list(why) == ["B"]
    assert usable_types(t, lambda speed: False) == (t, {}), "none feasible: all kept (the SLO is infeasible anyway)"


# -- replays --------------------------------------------------------------------------------------------------


def fixed_fleet(
    t: FleetTypes, arrival: list[float], service: list[float], replicas: int
) -> tuple[ServingSim, FleetMeter]:
    scaler = AUTOSCALERS.build(
        "target-tracking", None, guardrails=Guardrails(min_replicas=replicas, max_replicas=replicas)
    )
    meter = FleetMeter()
    profile = ReplicaProfile(name="t", gpu_type="A", work="fixed", work_settings={"median_s": 1.0, "p99_s": 2.0})
    a = np.array(arrival)
    sim = ServingSim(a, np.zeros(len(a)), np.array(service), profile, scaler, cold_start_s=0,
                     initial_replicas=replicas, observers=[meter], slots=1, types=t)  # fmt: skip
    return sim, meter


def test_a_mixed_fleet_runs_faster_replicas_faster_and_prices_each_type() -> None:
    t = types(("A", 1.0, 1.0, None), ("C", 4.0, 2.0, None))
    sim, meter = fixed_fleet(t, [0.0, 0.0, 1.0], [8.0, 8.0, 4.0], 5)
    # 5 reference replicas: C + A ($3.00) beats 2 C ($4.00) and 5 A ($5.00)
    assert [r.gpu_type for r in sim.replicas] == ["C", "A"]
    end = sim.run()
    # routing by (outstanding + 1) / speed: r0 -> C (1/4 < 1/1 on A), r1 -> C (2/4), r2 -> C (3/4): C's one slot
    # runs them in turn at a quarter of their service time; the A replica stays idle
    assert meter.start.tolist() == [0.0, 2.0, 4.0] and meter.finish.tolist() == [2.0, 4.0, 5.0]
    assert meter.speed.tolist() == [4.0, 4.0, 4.0] and end == 5.0
    by_type = meter.gpu_hours_by_type()
    assert by_type == {"C": pytest.approx(5 / 3600), "A": pytest.approx(5 / 3600)}
    assert meter.gpu_hours() == pytest.approx(10 / 3600)
    cost, unpriced = PriceTable(gpus={"A": 1.0, "C": 2.0}).cost({k: v for k, v in by_type.items() if k})
    assert cost == pytest.approx(5 / 3600 * 1.0 + 5 / 3600 * 2.0) and unpriced == 0


def requests(n: int = 3000, seed: int = 1, longest: int = 400) -> pl.DataFrame:
    """LLM requests over four hours with a three-hour quiet gap in the middle (the fleet scales down and up)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 4 * 3600, n))
    t = t + 3 * 3600 * (t > 2 * 3600)
    return pl.DataFrame(
        {"arrival_time": t, "input_tokens": rng.integers(50, 2000, n), "output_tokens": rng.integers(20, longest, n)}
    )


@pytest.mark.parametrize("policy", ["target-tracking", "kpa", "predictive", "oracle"])
def test_a_one_type_fleet_replays_exactly_as_a_fleet_without_types(policy: str) -> None:
    frame = requests()
    base = simulate_serving(frame, ServingConfig(policy=policy, profile="llama7b-a10"))
    own = simulate_serving(frame, ServingConfig(policy=policy, profile="llama7b-a10", gpu_types="A10G"))
    assert base.requests.equals(own.requests.drop("speed")) and (own.requests["speed"] == 1.0).all()
    assert base.timeline.equals(own.timeline) and base.decisions is not None and own.decisions is not None
    assert base.decisions.equals(own.decisions) and base.actions == own.actions
    b, o = base.summary.dump(), own.summary.dump()
    extra = {"gpu_types", "gpu_types_excluded", "gpu_hours_by_type"}
    assert set(o) - set(b) == extra and {k: v for k, v in o.items() if k not in extra} == b
    assert o["gpu_hours_by_type"] == {"A10G": pytest.approx(b["gpu_hours"])} and o["cost"] == pytest.approx(b["cost"])


def test_one_type_on_a_faster_gpu_needs_fewer_gpu_hours_at_its_own_price() -> None:
    frame = requests()
    cfg: dict[str, Any] = {"policy": "target-tracking", "profile": "llama7b-a10"}
    a10 = simulate_serving(frame, ServingConfig(**cfg)).summary
    h100 = simulate_serving(frame, ServingConfig(**cfg, gpu_types="H100")).summary
    assert h100.gpu_hours < a10.gpu_hours and h100.ttft_p99_s <= a10.ttft_p99_s
    rate = default_prices().rate("H100")
    assert rate is not None and h100.cost == pytest.approx(h100.gpu_hours * rate)


def test_a_mix_is_never_dearer_than_its_cheapest_type_alone_by_much_and_uses_the_quota() -> None:
    frame = requests(6000, longest=1500)  # about 9 requests in flight: more than one A10 (8 slots at 70%)
    cfg: dict[str, Any] = {"policy": "target-tracking", "profile": "llama7b-a10"}
    a10 = simulate_serving(frame, ServingConfig(**cfg, gpu_types="A10")).summary
    mix = simulate_serving(frame, ServingConfig(**cfg, gpu_types="A10,L4,H100")).summary
    capped_run = simulate_serving(frame, ServingConfig(**cfg, gpu_types="A10:1,L4,H100"))
    capped = capped_run.summary
    assert a10.cost is not None and mix.cost is not None and capped.cost is not None
    assert mix.gpu_hours_by_type is not None and capped.gpu_hours_by_type is not None
    # A10 is the cheapest throughput ($1.006 / 1.0; L4 $0.80 / 0.78, H100 $12.29 / 5.6): the mix is (almost) all A10
    assert mix.gpu_hours_by_type["A10"] > 0.9 * mix.gpu_hours
    assert mix.cost <= a10.cost * 1.05
    # one A10 at most: the rest comes from L4 (the next cheapest), and the $ is priced per type
    assert capped.gpu_hours_by_type["L4"] > 0 and capped.max_replicas > 1
    prices = default_prices()
    expect = sum(h * (prices.rate(k) or 0.0) for k, h in capped.gpu_hours_by_type.items())
    assert capped.cost == pytest.approx(expect)
    # the timeline says which types were up each minute: per-type GPUs add up to the fleet's
    tl = capped_run.timeline
    per_type = ["gpus_A10", "gpus_L4", "gpus_H100"]
    assert set(per_type) <= set(tl.columns)
    assert (tl.select(pl.sum_horizontal(per_type)).to_series() == tl["gpus"]).all()
    assert tl["gpus_A10"].max() == 1 and tl["gpus_L4"].max() > 0  # type: ignore[operator]
