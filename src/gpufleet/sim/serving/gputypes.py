"""Heterogeneous serving fleets: replica types (a GPU type with its speed, GPUs per replica and price) and which
ones an autoscaler's decision adds or takes away.

A profile is measured on its own GPU type: there a replica has speed 1.0 (the reference replica). On another type
(ReplicaProfile.speeds) a run takes service / speed seconds and a replica may hold another number of GPUs. The
autoscaler decides in reference replicas: a fleet's capacity is the sum of its replicas' speeds, and the demand it
is shown is weighted the same way (sim/serving/fleet.py), so its policies stay what they are for one type.

Adding capacity `d` (reference replicas) costs the least of:
  (a) one type alone: ceil(d / speed) replicas of it;
  (b) the type with the lowest $ per unit of throughput (price x GPUs / speed) for the whole replicas that fit in
      `d`, and the cheapest one-type cover of what is left;
within each type's limit (a quota: `max_replicas`); ties go to fewer replicas, then to the order the types were
given. With room for less than `d`, every type adds what it can, cheapest throughput first.
Taking capacity `e` away: replicas whose speed fits in what is left of `e`, dearest throughput first; within a type,
starting replicas before ready ones (cancelled newest first, then drained with the fewest requests first), as a
one-type fleet has always done. A one-type fleet therefore adds and removes exactly the replicas it did before
types existed (tests/sim/serving/test_gputypes.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import PriceTable, price_key
from gpufleet.sim.serving.profiles import ReplicaProfile
from gpufleet.sim.serving.replica import Replica

EPS = 1e-9  # capacities are sums of speeds: a cover within this is a cover


@dataclass(frozen=True)
class ReplicaType:
    """One kind of replica in a fleet: its GPU type, speed (throughput over the reference replica's), GPUs per
    replica, $ per GPU-hour (None: unpriced; only a one-type fleet may be unpriced) and quota (None: no limit)."""

    gpu_type: str
    speed: float
    gpus: int
    price: float | None
    max_replicas: int | None = None

    @property
    def replica_cost(self) -> float:
        """$ per replica-hour (0 when unpriced: a one-type fleet never compares)."""
        return (self.price or 0.0) * self.gpus

    @property
    def unit_cost(self) -> float:
        """$ per hour of one reference replica's throughput on this type."""
        return self.replica_cost / self.speed


@dataclass(frozen=True)
class FleetTypes:
    """The types a fleet may use, in the order given (the first is where a new fleet starts)."""

    types: tuple[ReplicaType, ...]

    def __post_init__(self) -> None:
        if not self.types:
            raise ValueError("a fleet needs at least one replica type")
        if len({price_key(t.gpu_type) for t in self.types}) < len(self.types):
            raise ValueError("a GPU type is named twice")
        if len(self.types) > 1 and any(t.price is None for t in self.types):
            raise ValueError("a fleet of several GPU types needs a price for each")

    @property
    def mixed(self) -> bool:
        """More than one type to choose from."""
        return len(self.types) > 1

    def cover(self, need: float, live: Sequence[int]) -> list[int]:
        """Type indices of the replicas to add for `need` more reference replicas, `live[k]` replicas of type k
        already counting against its limit (see the module docstring)."""
        if need <= EPS:
            return []
        room = [
            math.inf if t.max_replicas is None else max(t.max_replicas - n, 0)
            for t, n in zip(self.types, live, strict=True)
        ]
        plans = list(self._plans(need, room))
        if not plans:
            return self._what_fits(need, room)
        return min(plans)[3]

    def _one(self, need: float, room: Sequence[float], k: int) -> list[int] | None:
        t = self.types[k]
        n = math.ceil(need / t.speed - EPS)
        return [k] * n if n <= room[k] else None

    def _cheapest_one(self, need: float, room: Sequence[float]) -> list[int] | None:
        options = [p for k in range(len(self.types)) if (p := self._one(need, room, k)) is not None]
        return min(options, key=lambda p: (self._cost(p), len(p), p[0])) if options else None

    def _plans(self, need: float, room: Sequence[float]) -> Iterable[tuple[float, int, int, list[int]]]:
        """(cost, replicas, tie rank, plan) of every plan that fits: each type alone, then bulk + rest."""
        for k in range(len(self.types)):
            if (p := self._one(need, room, k)) is not None:
                yield self._cost(p), len(p), k, p
        b = min(range(len(self.types)), key=lambda k: (self.types[k].unit_cost, k))
        bulk = min(int((need + EPS) // self.types[b].speed), int(min(room[b], 1e9)))
        rest = need - bulk * self.types[b].speed
        if bulk > 0 and rest > EPS:
            left = list(room)
            left[b] -= bulk
            tail = self._cheapest_one(rest, left)
            if tail is not None:
                p = [b] * bulk + tail
                yield self._cost(p), len(p), len(self.types), p

    def _what_fits(self, need: float, room: Sequence[float]) -> list[int]:
        """Not enough room anywhere: what each type can add, cheapest throughput first, until `need` is met."""
        out: list[int] = []
        for k in sorted(range(len(self.types)), key=lambda k: (self.types[k].unit_cost, k)):
            n = 0
            while need > EPS and n < room[k]:
                out.append(k)
                n += 1
                need -= self.types[k].speed
        return out

    def _cost(self, plan: Sequence[int]) -> float:
        return sum(self.types[k].replica_cost for k in plan)

    def shed(self, excess: float, live: Iterable[Replica]) -> list[Replica]:
        """Replicas to take away for `excess` fewer reference replicas, in the order to take them (see the module
        docstring); the caller may stop early (it never leaves requests in flight without a ready replica)."""

        def order(r: Replica) -> tuple[float, int, int, int]:
            rank = -self.types[r.kind].unit_cost if self.mixed else 0.0
            if r.state == "starting":
                return rank, 0, 0, -r.rid
            return rank, 1, r.outstanding, -r.rid

        out: list[Replica] = []
        for r in sorted((r for r in live if r.state in ("starting", "ready")), key=order):
            if r.speed <= excess + EPS:
                out.append(r)
                excess -= r.speed
        return out


def fleet_types(
    profile: ReplicaProfile, gpu_types: Sequence[tuple[str, int | None]] | None, prices: PriceTable
) -> FleetTypes:
    """The replica types of a fleet of `profile` replicas on `gpu_types` ((GPU type, quota) pairs; None: the
    profile's own type alone), priced from `prices`; a type the profile has no speed for, or (with several types)
    no price, is one line naming it."""
    if not gpu_types:
        return FleetTypes((ReplicaType(profile.gpu_type, 1.0, profile.gpus, prices.rate(profile.gpu_type)),))
    out = []
    for name, quota in gpu_types:
        ts = profile.type_speed(name)
        if ts is None:
            known = ", ".join([profile.gpu_type, *profile.speeds]) or profile.gpu_type
            raise GpufleetError(
                f"--gpu-types {name}: profile {profile.name!r} has no speed on {name} (it has: {known});"
                " give one under `speeds:` in a profile file"
            )
        rate = prices.rate(name)
        if rate is None and len(gpu_types) > 1:
            raise GpufleetError(
                f"--gpu-types {name}: no price for {name} in {prices.name}: a mixed fleet chooses by price;"
                " give one with --prices"
            )
        out.append(ReplicaType(name, ts.speed, ts.gpus or profile.gpus, rate, quota))
    try:
        return FleetTypes(tuple(out))
    except ValueError as e:
        raise GpufleetError(f"--gpu-types: {e}") from None


def parse_gpu_types(text: str) -> list[tuple[str, int | None]]:
    """'L4:20,A10,H100' -> [('L4', 20), ('A10', None), ('H100', None)]: GPU types, each with an optional quota."""
    out: list[tuple[str, int | None]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, quota = part.partition(":")
        if not name.strip():
            raise GpufleetError(f"--gpu-types {text!r}: a type without a name")
        if quota and not (quota.strip().isdigit() and int(quota) >= 1):
            raise GpufleetError(f"--gpu-types {part!r}: the quota after ':' is a whole number of replicas, at least 1")
        out.append((name.strip(), int(quota) if quota else None))
    if not out:
        raise GpufleetError(f"--gpu-types {text!r}: name at least one GPU type")
    return out


def usable_types(types: FleetTypes, feasible_at: Callable[[float], bool]) -> tuple[FleetTypes, dict[str, str]]:
    """The types of a mixed fleet on which the SLO is feasible at all (`feasible_at(speed)`: an idle replica of
    that speed meets the SLO's percentile), and why each other one is left out; all of them when none is (the SLO
    is infeasible anyway, and the summary says so). A one-type fleet keeps its type."""
    if not types.mixed:
        return types, {}
    keep = tuple(t for t in types.types if feasible_at(t.speed))
    if not keep:
        return types, {}
    why = {t.gpu_type: f"too slow for the SLO even idle (speed {t.speed:g})" for t in types.types if t not in keep}
    return FleetTypes(keep), why
