"""ServingSim: requests onto replicas of one model, on the discrete-event engine, with an autoscaler.

Events (equal times run in this order): FINISH, READY, ARRIVE, DECIDE, SAMPLE.
- ARRIVE: the router sends the request to the ready replica with the fewest outstanding requests (running
  + queued; ties to the oldest replica); with no ready replica it waits in the router's queue.
- FINISH: the replica's next queued request takes the freed slot (else one from the router's queue); a
  draining replica that has emptied is released.
- READY: a replica ordered `cold_start_s` ago starts serving and takes work from the router's queue.
- DECIDE: the autoscaler sees the FleetState (per-second concurrency and arrivals up to now) and, when it
  uses one, a forecast; more replicas are ordered (READY after the cold start), fewer are taken away
  (starting ones cancelled first, newest first; then ready ones drain, fewest outstanding first).
- SAMPLE: the measuring tick: observers take a timeline row (kept as an event so that event order and
  counts do not depend on who measures).
A replica costs GPU time from the moment it is ordered until it is released (or the replay ends).
The loop measures nothing itself: it tells its observers (sim/serving/meter.py, FleetMeter) what happens.
The per-second demand it keeps (requests in the system, arrivals) is what the autoscaler sees, as a live
one would read it from its metrics.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpufleet.forecasting.series.demand import Forecasting
from gpufleet.optimizer.autoscaling import Autoscaler, FleetState
from gpufleet.optimizer.autoscaling.base import HISTORY_S
from gpufleet.sim.engine import Engine
from gpufleet.sim.serving.meter import FleetObserver
from gpufleet.sim.serving.profiles import ReplicaProfile

FINISH, READY, ARRIVE, DECIDE, SAMPLE = range(5)
PRIORITIES = {FINISH: 0, READY: 1, ARRIVE: 2, DECIDE: 3, SAMPLE: 4}


@dataclass
class Replica:
    """One model server."""

    rid: int
    ordered: float
    ready_at: float
    state: str = "starting"  # starting | ready | draining | gone
    busy: int = 0
    queue: deque[int] = field(default_factory=deque)
    gone_at: float | None = None

    @property
    def outstanding(self) -> int:
        """Requests running or queued here."""
        return self.busy + len(self.queue)


class ServingSim:
    """One replay: requests, a replica profile, an autoscaler; observers measure it."""

    def __init__(
        self,
        arrival: np.ndarray,
        prefill: np.ndarray,
        service: np.ndarray,
        profile: ReplicaProfile,
        autoscaler: Autoscaler,
        *,
        cold_start_s: float,
        initial_replicas: int,
        forecasting: Forecasting | None = None,
        sample_s: float = 60.0,
        observers: list[FleetObserver] | None = None,
    ) -> None:
        self.arrival, self.prefill, self.service = arrival, prefill, service
        self.profile, self.autoscaler, self.cold_start_s = profile, autoscaler, cold_start_s
        self.forecasting = forecasting
        self.sample_s = sample_s
        self.observers = list(observers or [])
        self.replicas: list[Replica] = []
        self.router: deque[int] = deque()
        self.in_system = 0
        size = int(arrival.max(initial=0.0) + service.max(initial=0.0)) + 120
        self.conc = np.zeros(size)  # per-second integral of requests in the system
        self.arr = np.zeros(size)  # arrivals per second
        self._last_t = 0.0
        self._service_sum = 0.0
        self._service_n = 0
        self._arrivals_seen = 0
        self.last_finish = 0.0
        self.events = 0
        for o in self.observers:
            o.attach(self)
        for _ in range(initial_replicas):
            self._order(0.0, ready_now=True)

    # -- the demand the autoscaler sees --------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        if need >= len(self.conc):
            extra = need - len(self.conc) + 3600
            self.conc = np.concatenate([self.conc, np.zeros(extra)])
            self.arr = np.concatenate([self.arr, np.zeros(extra)])

    def _advance(self, t: float) -> None:
        """Integrate requests in the system into per-second bins up to t."""
        last = self._last_t
        if t <= last:
            return
        self._grow(int(t) + 1)
        while last < t:
            b = int(last)
            end = min(t, b + 1.0)
            self.conc[b] += self.in_system * (end - last)
            last = end
        self._last_t = t

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _order(self, t: float, ready_now: bool = False) -> Replica:
        r = Replica(len(self.replicas), t, t if ready_now else t + self.cold_start_s)
        self.replicas.append(r)
        self._tell_replica(t, "order", r.rid)
        if ready_now:
            r.state = "ready"
            self._tell_replica(t, "ready", r.rid)
        return r

    def _begin(self, t: float, r: Replica, i: int) -> list[tuple[float, int, Any]]:
        r.busy += 1
        for o in self.observers:
            o.on_request(t, "start", i)
        return [(t + self.service[i], FINISH, (r.rid, i))]

    def _release(self, t: float, r: Replica) -> None:
        """A ready or draining replica is given back."""
        r.state, r.gone_at = "gone", t
        self._tell_replica(t, "stop", r.rid)

    def _tell_replica(self, t: float, what: str, rid: int) -> None:
        for o in self.observers:
            o.on_replica(t, what, rid)

    # -- handlers --------------------------------------------------------------------------------------------
    def on_arrive(self, t: float, i: int) -> list[tuple[float, int, Any]]:
        self._advance(t)
        self._grow(int(t) + 1)
        self.arr[int(t)] += 1
        self.in_system += 1
        self._service_sum += self.service[i]
        self._service_n += 1
        self._arrivals_seen += 1
        out: list[tuple[float, int, Any]] = []
        if i + 1 < len(self.arrival):
            out.append((float(self.arrival[i + 1]), ARRIVE, i + 1))
        ready = [r for r in self.replicas if r.state == "ready"]
        if not ready:
            self.router.append(i)
            return out
        r = min(ready, key=lambda x: (x.outstanding, x.rid))
        if r.busy < self.profile.max_seqs:
            out += self._begin(t, r, i)
        else:
            r.queue.append(i)
        return out

    def on_finish(self, t: float, payload: tuple[int, int]) -> list[tuple[float, int, Any]]:
        self._advance(t)
        rid, i = payload
        r = self.replicas[rid]
        r.busy -= 1
        self.in_system -= 1
        self.last_finish = max(self.last_finish, t)
        for o in self.observers:
            o.on_request(t, "finish", i)
        if r.queue:
            return self._begin(t, r, r.queue.popleft())
        if self.router and r.state == "ready":
            return self._begin(t, r, self.router.popleft())
        if r.state == "draining" and r.outstanding == 0:
            self._release(t, r)
        return []

    def on_ready(self, t: float, rid: int) -> list[tuple[float, int, Any]]:
        self._advance(t)
        r = self.replicas[rid]
        if r.state != "starting":  # cancelled while starting
            return []
        r.state = "ready"
        self._tell_replica(t, "ready", rid)
        out: list[tuple[float, int, Any]] = []
        while self.router and r.busy < self.profile.max_seqs:
            out += self._begin(t, r, self.router.popleft())
        return out

    def state(self, t: float) -> FleetState:
        """What the autoscaler sees at t: whole seconds before t."""
        end = int(t)
        a = max(0, end - HISTORY_S)
        mean_service = self._service_sum / self._service_n if self._service_n else float(np.mean(self.service[:100]))
        return FleetState(
            now=t,
            ready=sum(r.state == "ready" for r in self.replicas),
            starting=sum(r.state == "starting" for r in self.replicas),
            slots_per_replica=self.profile.max_seqs,
            service_s=mean_service,
            cold_start_s=self.cold_start_s,
            concurrency=self.conc[a:end].copy(),
            arrivals=self.arr[a:end].copy(),
        )

    def on_decide(self, t: float, _: Any) -> list[tuple[float, int, Any]]:
        self._advance(t)
        st = self.state(t)
        fc = None
        if self.forecasting is not None and self.autoscaler.uses_forecast:
            fc = self.forecasting.forecast(t, self.arr, self.cold_start_s + self.autoscaler.period_s)
        plan = self.autoscaler.decide(st, fc)
        for o in self.observers:
            o.on_decision(t, st, plan)
        out: list[tuple[float, int, Any]] = []
        change = plan.desired - st.current
        if change > 0:
            for _ in range(change):
                r = self._order(t)
                out.append((r.ready_at, READY, r.rid))
        elif change < 0:
            drop = -change
            for r in sorted((r for r in self.replicas if r.state == "starting"), key=lambda x: -x.rid):
                if drop == 0:
                    break
                r.state, r.gone_at = "gone", t
                self._tell_replica(t, "cancel", r.rid)
                drop -= 1
            for r in sorted((r for r in self.replicas if r.state == "ready"), key=lambda x: (x.outstanding, -x.rid)):
                if drop == 0:
                    break
                if sum(x.state == "ready" for x in self.replicas) <= 1 and self.in_system > 0:
                    break  # never leave the requests in flight without a server
                r.state = "draining"
                # its queued requests go back to the router, so they are served by the replicas that stay
                while r.queue:
                    self.router.appendleft(r.queue.pop())
                if r.busy == 0:
                    self._release(t, r)
                drop -= 1
            out += self._dispatch_router(t)
        if self._arrivals_seen < len(self.arrival) or self.in_system > 0:
            out.append((t + self.autoscaler.period_s, DECIDE, None))
        return out

    def _dispatch_router(self, t: float) -> list[tuple[float, int, Any]]:
        out: list[tuple[float, int, Any]] = []
        for r in sorted((r for r in self.replicas if r.state == "ready"), key=lambda x: (x.outstanding, x.rid)):
            while self.router and r.busy < self.profile.max_seqs:
                out += self._begin(t, r, self.router.popleft())
        return out

    def on_sample(self, t: float, _: Any) -> list[tuple[float, int, Any]]:
        self._advance(t)
        for o in self.observers:
            o.on_sample(t)
        if self._arrivals_seen < len(self.arrival) or self.in_system > 0:
            return [(t + self.sample_s, SAMPLE, None)]
        return []

    def run(self) -> float:
        """Replay every request; returns the time the last one finished."""
        eng = Engine(
            {
                ARRIVE: self.on_arrive,
                FINISH: self.on_finish,
                READY: self.on_ready,
                DECIDE: self.on_decide,
                SAMPLE: self.on_sample,
            },
            PRIORITIES,
            list(self.observers),
        )
        if len(self.arrival):
            eng.push(float(self.arrival[0]), ARRIVE, 0)
        eng.push(self.autoscaler.period_s, DECIDE, None)
        eng.push(self.sample_s, SAMPLE, None)
        end = eng.run()
        self.events = eng.events_handled
        last = self.last_finish
        self._advance(max(end, last))
        for r in self.replicas:
            if r.gone_at is None:
                r.gone_at = last
        for o in self.observers:
            o.close(max(end, last), last)
        return last
