"""Comparing a mixed-GPU serving fleet with one-type fleets on the same requests (`gpufleet serving-types`, the
types bench).

Each type given is replayed alone (with its quota, if it has one: a capped type alone misses its peaks), then all
of them together, where the autoscaler adds the cheapest throughput that fits (sim/serving/gputypes.py). Every
fleet replays the same requests with the same service times under the same policy and SLO, and is priced from the
same table; a type on which even an idle replica misses the SLO is left out of the mix (its one-type row still
shows what it would do).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from gpufleet.core.prices import PriceTable, price_key
from gpufleet.sim.serving.gputypes import fleet_types, parse_gpu_types
from gpufleet.sim.serving.profiles import load_profile
from gpufleet.sim.serving.replica import Pipelines, SwitchCosts
from gpufleet.sim.serving.run import ServingConfig, simulate_serving
from gpufleet.sim.summary import ServingSummary

MIXED = "mixed"


@dataclass
class TypesReport:
    """One row per fleet (each type alone, then the mix), with what each type costs per unit of throughput."""

    profile: str
    policy: str
    slo: str
    priced_by: str
    types: list[dict[str, Any]]  # per type: speed, GPUs per replica, $ per GPU-hour, $ per reference replica-hour
    fleets: dict[str, ServingSummary] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)

    def cheapest_single(self) -> str | None:
        """The one-type fleet of lowest cost among those that meet the SLO (None: none does)."""
        ok = [(s.cost, k) for k, s in self.fleets.items() if k != MIXED and s.slo_met and s.cost is not None]
        return min(ok)[1] if ok else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "profile": self.profile,
            "policy": self.policy,
            "slo": self.slo,
            "priced_by": self.priced_by,
            "types": self.types,
            "cheapest_single_type_meeting_slo": self.cheapest_single(),
            "fleet_order": list(self.fleets),  # each type alone as given, then the mix (JSON keys may be sorted)
            "fleets": {k: {**s.dump(), "wall_s": self.wall_s[k]} for k, s in self.fleets.items()},
        }


def compare_types(
    frame: pl.DataFrame,
    cfg: ServingConfig,
    prices: PriceTable,
    pipelines: Pipelines | None = None,
    switch_costs: SwitchCosts | None = None,
) -> TypesReport:
    """Replay `frame` on each of `cfg.gpu_types` alone and on all of them (cfg's policy, profile and SLO; with
    pipelines, replicas swap base models as in compare-autoscalers)."""
    assert cfg.gpu_types is not None
    spec = parse_gpu_types(cfg.gpu_types)
    profile = load_profile(cfg.profile)
    mixed = fleet_types(profile, spec, prices)  # a type without a speed or a price fails here, before any replay
    rows = [
        {
            "gpu_type": t.gpu_type,
            "speed": t.speed,
            "gpus_per_replica": t.gpus,
            "price_per_gpu_hour": t.price,
            "cost_per_reference_replica_hour": t.unit_cost,
            "quota": t.max_replicas,
            "source": _source(profile, t.gpu_type),
        }
        for t in mixed.types
    ]
    report = TypesReport(profile.name, cfg.policy, cfg.slo, prices.name, rows)
    fleets = [(f"{name}:{quota}" if quota else name,) * 2 for name, quota in spec]  # label = its --gpu-types
    fleets.append((MIXED, cfg.gpu_types))
    for label, types in fleets:
        began = time.perf_counter()
        fleet_cfg = cfg.model_copy(update={"gpu_types": types})
        res = simulate_serving(frame, fleet_cfg, prices=prices, pipelines=pipelines, switch_costs=switch_costs)
        report.fleets[label] = res.summary
        report.wall_s[label] = time.perf_counter() - began
    return report


def _source(profile: Any, gpu_type: str) -> str | None:
    if price_key(gpu_type) == price_key(profile.gpu_type):
        return f"the profile's own type ({profile.name})"
    ts = profile.type_speed(gpu_type)
    return None if ts is None else ts.source
