"""ServingSim: requests onto replicas, on the discrete-event engine, with an autoscaler.

Events (equal times run in this order): FINISH, READY, ARRIVE, BATCH, DECIDE, SAMPLE.
- ARRIVE: the router sends the request to a ready replica (replica.route: the fewest outstanding requests,
  running + queued, ties to the oldest; with pipelines, warm replicas first); with no ready replica it waits in
  the router's queue.
- A replica starts runs from its queue while it has a free slot: one request per run, or with batching up to
  `batching.size` requests of one pipeline, waiting for a fuller run until its oldest request has waited
  `batching.deadline_s` (a BATCH event then). A run whose request needs another pipeline loads it first
  (replica.switch; only on an idle replica when the base model changes).
- FINISH: the run's slot is free: the replica starts its next queued run (else takes from the router's queue);
  a draining replica that has emptied is released.
- READY: a replica ordered `cold_start_s` ago starts serving and takes work from the router's queue.
- DECIDE: the autoscaler sees the FleetState (per-second concurrency and arrivals up to now) and, when it
  uses one, a forecast; more replicas are ordered (READY after the cold start), fewer are taken away
  (starting ones cancelled first, newest first; then ready ones drain, fewest outstanding first).
- SAMPLE: the measuring tick: observers take a timeline row (kept as an event so that event order and
  counts do not depend on who measures).
An idle fleet (nothing in the system, nothing starting or draining) costs nothing per simulated second: a
decision that keeps the fleet asks the policy how long it would keep doing so (`quiet_until`) and the next one
is taken at the first period on or after that, or the next arrival, whichever is first; timeline samples in
between are written from the unchanged fleet. Every decision skipped is one that would have kept the fleet as
it was, so a replay gives the same results either way (tests/sim/serving/test_speed.py).
A replica costs GPU time from the moment it is ordered until it is released (or the replay ends).
The loop measures nothing itself: it tells its observers (sim/serving/meter.py, FleetMeter) what happens.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from gpufleet.forecasting.series.demand import Forecasting
from gpufleet.optimizer.autoscaling import Autoscaler, FleetState
from gpufleet.optimizer.autoscaling.base import HISTORY_S
from gpufleet.sim.engine import Engine
from gpufleet.sim.serving.gputypes import EPS, FleetTypes, ReplicaType
from gpufleet.sim.serving.meter import FleetObserver, integrate
from gpufleet.sim.serving.profiles import ReplicaProfile
from gpufleet.sim.serving.replica import Pipelines, Replica, SwitchCosts, route, switch
from gpufleet.sim.serving.scaling import FleetScaling
from gpufleet.sim.serving.work import Batching

FINISH, READY, ARRIVE, DECIDE, SAMPLE, BATCH = range(6)
PRIORITIES = {FINISH: 0, READY: 1, ARRIVE: 2, BATCH: 3, DECIDE: 4, SAMPLE: 5}
FollowUps = list[tuple[float, int, Any]]


class ServingSim(FleetScaling):
    """One replay: requests, a replica profile, an autoscaler; observers measure it."""

    READY_EVENT = READY

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
        slots: int | None = None,
        batching: Batching | None = None,
        pipelines: Pipelines | None = None,
        switch_costs: SwitchCosts | None = None,
        seed: int = 0,
        skip_idle: bool = True,
        types: FleetTypes | None = None,
    ) -> None:
        if (pipelines is None) != (switch_costs is None):
            raise ValueError("pipelines and switch_costs come together")
        self.arrival, self.prefill, self.service = arrival, prefill, service
        self.profile, self.autoscaler, self.cold_start_s = profile, autoscaler, cold_start_s
        self.forecasting = forecasting
        self.sample_s = sample_s
        self.observers = list(observers or [])
        self.slots = profile.slots if slots is None else slots
        self.batching = batching or Batching()
        self.capacity = self.slots * self.batching.size  # requests one replica holds running
        self.pipes, self.costs = pipelines, switch_costs
        self.rng = np.random.default_rng(seed)
        self.skip_idle = skip_idle  # False: every decision and sample of an idle fleet is taken (tests compare)
        # the GPU types replicas may use (default: the profile's own, one type: sim/serving/gputypes.py)
        self.types = types or FleetTypes((ReplicaType(profile.gpu_type, 1.0, profile.gpus, None),))
        self.replicas: list[Replica] = []  # every replica ever ordered (lifetimes)
        self.live: dict[int, Replica] = {}  # those not gone, oldest first
        self.n_ready = self.n_starting = self.n_draining = 0
        self.units_ready = self.units_starting = 0.0
        self.live_by_type = [0] * len(self.types.types)
        self.router: deque[int] = deque()
        self.in_system = 0
        # requests in the system in reference-replica work: queued ones count 1, running ones their replica's
        # speed, so a policy sizes in reference replicas whatever the fleet runs on (= in_system on one type)
        self.work_in_system = 0.0
        size = int(arrival.max(initial=0.0) + service.max(initial=0.0)) + 120
        self.conc = np.zeros(size)  # per-second integral of requests in the system
        self.arr = np.zeros(size)  # arrivals per second
        self._last_t = 0.0
        self._service_sum = 0.0
        self._service_n = 0
        self._arrivals_seen = 0
        self._next_decide = math.inf
        self._quiet_samples: list[float] = []  # sample times skipped while idle, written at the next sample
        self._quiet_fleet = (0, 0, 0)
        self.last_finish = 0.0
        self.events = 0
        self.decisions_skipped = 0
        for o in self.observers:
            o.attach(self)
        for kind in self.types.cover(initial_replicas, self.live_by_type):  # on one type: initial_replicas of it
            self._order(0.0, kind, ready_now=True)

    # -- the demand the autoscaler sees --------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        if need >= len(self.conc):
            extra = need - len(self.conc) + 3600
            self.conc = np.concatenate([self.conc, np.zeros(extra)])
            self.arr = np.concatenate([self.arr, np.zeros(extra)])

    def _advance(self, t: float) -> None:
        """Integrate requests in the system into per-second bins up to t (whole seconds at once)."""
        last = self._last_t
        if t <= last:
            return
        self._grow(int(t) + 1)
        n = self.work_in_system
        if n:
            integrate(self.conc, n, last, t)
        self._last_t = t

    # -- runs ------------------------------------------------------------------------------------------------
    def _pump(self, t: float, r: Replica) -> FollowUps:
        """Start runs from r's queue while it has a free slot (and, with batching, a run is due)."""
        out: FollowUps = []
        while r.queue and r.runs < self.slots:
            head = r.queue[0]
            if self.pipes is not None and r.runs > 0 and self.pipes.model[head] != r.model:
                break  # another base model: it loads once the replica is idle
            if self.batching.size == 1:
                members = [r.queue.popleft()]
            else:
                members = self._batch(t, r, head)
                if not members:
                    out.append((float(self.arrival[head]) + self.batching.deadline_s, BATCH, r.rid))
                    break
            out.append(self._start(t, r, members))
        return out

    def _batch(self, t: float, r: Replica, head: int) -> list[int]:
        """The queued requests of head's pipeline, up to the batch size; [] while a fuller run can still wait."""
        same = self.pipes.key if self.pipes is not None else None
        key = same(head) if same is not None else None
        members = [j for j in r.queue if same is None or same(j) == key][: self.batching.size]
        if len(members) < self.batching.size and t < float(self.arrival[head]) + self.batching.deadline_s:
            return []
        taken = set(members)
        r.queue = deque(j for j in r.queue if j not in taken)
        return members

    def _start(self, t: float, r: Replica, members: list[int]) -> tuple[float, int, Any]:
        loads = (
            {} if self.pipes is None or self.costs is None else switch(r, members[0], self.pipes, self.costs, self.rng)
        )
        run = self.batching.seconds(self.service, members)
        if r.speed != 1.0:
            run /= r.speed
            self.work_in_system += len(members) * (r.speed - 1.0)
        r.runs += 1
        r.busy += len(members)
        for o in self.observers:
            for i in members:
                o.on_request(t, "start", i, r.rid)
            if loads:
                o.on_switch(t, r.rid, members, loads)
        loading = sum(loads.values())
        return (t + loading + run if loads else t + run), FINISH, (r.rid, members)

    def _fill(self, t: float, r: Replica) -> FollowUps:
        """A ready replica with room takes requests from the router's queue, oldest first."""
        out: FollowUps = []
        while self.router and r.outstanding < self.capacity:
            r.queue.append(self.router.popleft())
            out += self._pump(t, r)
        return out

    # -- handlers --------------------------------------------------------------------------------------------
    def on_arrive(self, t: float, i: int) -> FollowUps:
        self._advance(t)
        self._grow(int(t) + 1)
        self.arr[int(t)] += 1
        self.in_system += 1
        self.work_in_system += 1.0
        self._service_sum += self.service[i]
        self._service_n += 1
        self._arrivals_seen += 1
        out: FollowUps = []
        if i + 1 < len(self.arrival):
            out.append((float(self.arrival[i + 1]), ARRIVE, i + 1))
        ready = self._ready_list()
        if not ready:
            self.router.append(i)
            return out
        r = route(ready, i, self.pipes, self.capacity)
        r.queue.append(i)
        return out + self._pump(t, r)

    def on_finish(self, t: float, payload: tuple[int, list[int]]) -> FollowUps:
        self._advance(t)
        rid, members = payload
        r = self.replicas[rid]
        r.runs -= 1
        r.busy -= len(members)
        self.in_system -= len(members)
        self.work_in_system = self.work_in_system - len(members) * r.speed if self.in_system else 0.0
        self.last_finish = max(self.last_finish, t)
        for o in self.observers:
            for i in members:
                o.on_request(t, "finish", i, rid)
        out = self._pump(t, r)
        if r.state == "ready":
            out += self._fill(t, r)
        elif r.state == "draining" and r.outstanding == 0:
            self._gone(t, r, "stop")
        return out

    def on_ready(self, t: float, rid: int) -> FollowUps:
        self._advance(t)
        r = self.replicas[rid]
        if r.state != "starting":  # cancelled while starting
            return []
        self._set_ready(t, r)
        return self._fill(t, r)

    def on_batch(self, t: float, rid: int) -> FollowUps:
        """A batching deadline: the replica starts what has waited long enough."""
        self._advance(t)
        r = self.replicas[rid]
        return self._pump(t, r) if r.state == "ready" else []

    def state(self, t: float) -> FleetState:
        """What the autoscaler sees at t: whole seconds before t (read-only views: those seconds are final)."""
        end = int(t)
        a = max(0, end - HISTORY_S)
        mean_service = self._service_sum / self._service_n if self._service_n else float(np.mean(self.service[:100]))
        conc, arr = self.conc[a:end], self.arr[a:end]
        conc.flags.writeable = arr.flags.writeable = False
        # whole reference replicas (counts on one type); `current` is the whole of ready + starting together, so
        # two half-speed replicas starting count as one
        ready = math.floor(self.units_ready + EPS)
        current = math.floor(self.units_ready + self.units_starting + EPS)
        return FleetState(
            now=t,
            ready=ready,
            starting=current - ready,
            slots_per_replica=self.capacity,
            service_s=mean_service,
            cold_start_s=self.cold_start_s,
            concurrency=conc,
            arrivals=arr,
        )

    def _idle(self) -> bool:
        return self.in_system == 0 and self.n_starting == 0 and self.n_draining == 0

    def _next_arrival(self) -> float:
        k = self._arrivals_seen
        return float(self.arrival[k]) if k < len(self.arrival) else math.inf

    def _more(self) -> bool:
        return self._arrivals_seen < len(self.arrival) or self.in_system > 0

    def on_decide(self, t: float, _: Any) -> FollowUps:
        self._advance(t)
        st = self.state(t)
        fc = None
        if self.forecasting is not None and self.autoscaler.uses_forecast:
            fc = self.forecasting.forecast(t, self.arr, self.cold_start_s + self.autoscaler.period_s)
        plan = self.autoscaler.decide(st, fc)
        for o in self.observers:
            o.on_decision(t, st, plan)
        out, changed = self._scale(t, plan.desired)
        if not self._more():
            return out
        period = self.autoscaler.period_s
        nt = t + period
        if plan.desired == st.current and not changed and self.skip_idle and self._idle():
            until = min(self.autoscaler.quiet_until(st), self._next_arrival())
            while nt < until:  # the same sums as one period at a time: the same decision times
                nt += period
                self.decisions_skipped += 1
        self._next_decide = nt
        return [*out, (nt, DECIDE, None)]

    def on_sample(self, t: float, _: Any) -> FollowUps:
        self._advance(t)
        if self._quiet_samples:  # the fleet was idle and as it was then at each of them
            for o in self.observers:
                o.on_quiet_samples(self._quiet_samples, *self._quiet_fleet)
            self._quiet_samples = []
        for o in self.observers:
            o.on_sample(t, self.n_ready, self.n_starting, self.n_draining)
        if not self._more():
            return []
        nt = t + self.sample_s
        if self.skip_idle and self._idle():
            # nothing changes before the next arrival or decision: those rows are written from this fleet
            stop = min(self._next_arrival(), self._next_decide)
            self._quiet_fleet = (self.n_ready, self.n_starting, self.n_draining)
            while nt < stop:
                self._quiet_samples.append(nt)
                nt += self.sample_s
        return [(nt, SAMPLE, None)]

    def run(self) -> float:
        """Replay every request; returns the time the last one finished."""
        handlers = {
            ARRIVE: self.on_arrive,
            FINISH: self.on_finish,
            READY: self.on_ready,
            BATCH: self.on_batch,
            DECIDE: self.on_decide,
            SAMPLE: self.on_sample,
        }
        eng = Engine(handlers, PRIORITIES, list(self.observers))  # type: ignore[arg-type]
        if len(self.arrival):
            eng.push(float(self.arrival[0]), ARRIVE, 0)
        eng.push(self.autoscaler.period_s, DECIDE, None)
        self._next_decide = self.autoscaler.period_s
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
