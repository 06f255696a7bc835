"""The serving fleet's replicas: ordering, readiness, release, and carrying out an autoscaler's decision on one or
several GPU types (which types: sim/serving/gputypes.py).

A decision asks for a capacity in reference replicas (a replica of the profile's own type); the fleet's capacity is
the sum of its starting and ready replicas' speeds (1 each on one type of the profile's own, so a count). Below it,
replicas are added (READY after the cold start); above it by at least one replica's speed, replicas are taken away:
starting ones are cancelled, ready ones drain (their queued requests go back to the router) and are released once
empty; never the last ready replica while requests are in flight.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from gpufleet.sim.serving.gputypes import EPS, FleetTypes
from gpufleet.sim.serving.meter import FleetObserver
from gpufleet.sim.serving.replica import Pipelines, Replica

FollowUps = list[tuple[float, int, Any]]


class FleetScaling:
    """Replica bookkeeping and scaling for ServingSim (which sets these attributes and defines `_fill`)."""

    READY_EVENT: int  # the event kind that makes an ordered replica ready (sim/serving/fleet.py)
    types: FleetTypes
    cold_start_s: float
    pipes: Pipelines | None
    observers: list[FleetObserver]
    replicas: list[Replica]
    live: dict[int, Replica]
    router: deque[int]
    n_ready: int
    n_starting: int
    n_draining: int
    in_system: int
    units_ready: float  # capacity in reference replicas: the sum of speeds of ready replicas
    units_starting: float
    live_by_type: list[int]  # starting + ready + draining replicas of each type (quotas count them all)

    def _fill(self, t: float, r: Replica) -> FollowUps:
        raise NotImplementedError

    def _order(self, t: float, kind: int = 0, ready_now: bool = False) -> Replica:
        rt = self.types.types[kind]
        ready_at = t if ready_now else t + self.cold_start_s
        r = Replica(len(self.replicas), t, ready_at, speed=rt.speed, gpu_type=rt.gpu_type, gpus=rt.gpus, kind=kind)
        if self.pipes is not None:
            r.model = self.pipes.default  # the cold start loads the pool's default base model
        self.replicas.append(r)
        self.live[r.rid] = r
        self.n_starting += 1
        self.units_starting += r.speed
        self.live_by_type[kind] += 1
        self._tell_replica(t, "order", r.rid)
        if ready_now:
            self._set_ready(t, r)
        return r

    def _set_ready(self, t: float, r: Replica) -> None:
        r.state = "ready"
        self.n_starting -= 1
        self.n_ready += 1
        self.units_starting -= r.speed
        self.units_ready += r.speed
        self._tell_replica(t, "ready", r.rid)

    def _gone(self, t: float, r: Replica, what: str) -> None:
        """A replica is released after serving ('stop') or cancelled while starting ('cancel')."""
        if r.state == "starting":
            self.n_starting -= 1
            self.units_starting -= r.speed
        elif r.state == "ready":
            self.n_ready -= 1
            self.units_ready -= r.speed
        else:
            self.n_draining -= 1
        r.state, r.gone_at = "gone", t
        del self.live[r.rid]
        self.live_by_type[r.kind] -= 1
        self._tell_replica(t, what, r.rid)

    def _tell_replica(self, t: float, what: str, rid: int) -> None:
        for o in self.observers:
            o.on_replica(t, what, rid)

    def _ready_list(self) -> list[Replica]:
        return [r for r in self.live.values() if r.state == "ready"]

    def _drain(self, t: float, r: Replica) -> None:
        r.state = "draining"
        self.n_ready -= 1
        self.units_ready -= r.speed
        self.n_draining += 1
        # its queued requests go back to the router, so they are served by the replicas that stay
        while r.queue:
            self.router.appendleft(r.queue.pop())
        if r.busy == 0:
            self._gone(t, r, "stop")

    def _scale(self, t: float, desired: float) -> tuple[FollowUps, bool]:
        """Carry out a decision for `desired` reference replicas: the follow-up events, and whether any replica was
        ordered, cancelled or drained."""
        out: FollowUps = []
        capacity = self.units_ready + self.units_starting
        changed = False
        if desired > capacity + EPS:
            for kind in self.types.cover(desired - capacity, self.live_by_type):
                r = self._order(t, kind)
                out.append((r.ready_at, self.READY_EVENT, r.rid))
                changed = True
        elif desired < capacity - EPS:
            for r in self.types.shed(capacity - desired, self.live.values()):
                if r.state == "starting":
                    self._gone(t, r, "cancel")
                elif self.n_ready <= 1 and self.in_system > 0:
                    continue  # never leave the requests in flight without a server
                else:
                    self._drain(t, r)
                changed = True
            for r in sorted(self._ready_list(), key=lambda x: (x.outstanding, x.rid)):
                out += self._fill(t, r)
        return out, changed
