"""Measuring a serving replay: an observer of the fleet's events, kept out of the simulation loop.

ServingSim tells its observers what happens (a request starts or finishes, a replica is ordered, becomes
ready, stops or is cancelled, a decision is taken, a sample is due) and the engine shows them every event
before it is handled; FleetMeter turns that into per-request start and finish times, per-second integrals
of busy and ready slots, the per-minute timeline, the decisions and scaling actions, and GPU-hours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from gpufleet.optimizer.autoscaling import FleetState, ScalingPlan

if TYPE_CHECKING:
    from gpufleet.sim.serving.fleet import ServingSim


class FleetObserver(Protocol):
    """What a serving replay tells its observers (the engine also calls `before` ahead of every event)."""

    def attach(self, sim: ServingSim) -> None:
        """Called once, before the first replica is ordered."""
        ...

    def before(self, t: float, kind: int, payload: Any) -> None:
        """An event at t is about to be handled; the fleet is still as the previous event left it."""
        ...

    def on_request(self, t: float, what: str, i: int) -> None:
        """Request i got a slot ('start') or left ('finish') at t."""
        ...

    def on_replica(self, t: float, what: str, rid: int) -> None:
        """Replica rid was ordered ('order'), began serving ('ready'), was released after serving ('stop') or
        cancelled while starting ('cancel') at t."""
        ...

    def on_decision(self, t: float, state: FleetState, plan: ScalingPlan) -> None:
        """The autoscaler saw `state` at t and chose `plan`."""
        ...

    def on_sample(self, t: float) -> None:
        """A timeline sample is due at t (the fleet's demand history is integrated up to t)."""
        ...

    def close(self, t: float, last_finish: float) -> None:
        """The replay ended at t; the last request finished at `last_finish`."""
        ...


class FleetMeter:
    """Latencies, the per-minute timeline, decisions, scaling actions, utilization and GPU-hours of one replay."""

    def __init__(self) -> None:
        self.sample_s = 60.0
        self.start = np.zeros(0)  # when each request got its slot
        self.finish = np.zeros(0)
        self.busy_int = np.zeros(0)  # per-second integral of busy slots
        self.slots_int = np.zeros(0)  # per-second integral of ready slots
        self.timeline: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        # every decision with what the policy saw: the live hook's end-to-end test replays these
        self.decisions: list[tuple[float, int, int, float, int]] = []
        self.ordered: list[float] = []  # per replica: when it was ordered and when it went (None: still live)
        self.gone: list[float | None] = []
        self._busy = 0
        self._ready_slots = 0
        self._last_t = 0.0
        self._slots = 0
        self._gpus = 0
        self._sim: ServingSim | None = None

    def attach(self, sim: ServingSim) -> None:
        """Size the arrays for this replay (as the fleet sizes its demand history: equal lengths, equal sums)."""
        self._sim, self.sample_s = sim, sim.sample_s
        n = len(sim.arrival)
        self.start, self.finish = np.full(n, np.nan), np.full(n, np.nan)
        size = len(sim.conc)
        self.busy_int, self.slots_int = np.zeros(size), np.zeros(size)
        self._slots, self._gpus = sim.profile.max_seqs, sim.profile.gpus

    def _grow(self, need: int) -> None:
        if need >= len(self.busy_int):
            extra = need - len(self.busy_int) + 3600
            self.busy_int = np.concatenate([self.busy_int, np.zeros(extra)])
            self.slots_int = np.concatenate([self.slots_int, np.zeros(extra)])

    def before(self, t: float, kind: int, payload: Any) -> None:
        """Integrate busy and ready slots into per-second bins up to t."""
        self._grow(int(t) + 1)
        last = self._last_t
        if t <= last:
            return
        while last < t:
            b = int(last)
            end = min(t, b + 1.0)
            dt = end - last
            self.busy_int[b] += self._busy * dt
            self.slots_int[b] += self._ready_slots * dt
            last = end
        self._last_t = t

    def on_request(self, t: float, what: str, i: int) -> None:
        """A request took a slot or gave it back."""
        if what == "start":
            self._busy += 1
            self.start[i] = t
        else:
            self._busy -= 1
            self.finish[i] = t

    def on_replica(self, t: float, what: str, rid: int) -> None:
        """A replica's ordered/ready/gone times and the ready slots."""
        if what == "order":
            self.ordered.append(t)
            self.gone.append(None)
        elif what == "ready":
            self._ready_slots += self._slots
        else:
            if what == "stop":
                self._ready_slots -= self._slots
            self.gone[rid] = t

    def on_decision(self, t: float, state: FleetState, plan: ScalingPlan) -> None:
        """Record what the policy saw and chose, and the change when there was one."""
        self.decisions.append((t, state.ready, state.starting, state.service_s, plan.desired))
        if plan.desired != state.current:
            self.actions.append({"t": t, "from": state.current, "to": plan.desired, "reason": plan.reason})

    def on_sample(self, t: float) -> None:
        """One timeline row: the fleet now, and demand, concurrency and utilization over the last sample_s."""
        sim = self._sim
        assert sim is not None
        a, b = int(t - self.sample_s), int(t)
        window = slice(max(a, 0), b)
        slots = float(self.slots_int[window].sum())
        live = [r for r in sim.replicas if r.state in ("ready", "starting", "draining")]
        self.timeline.append(
            {
                "t": t,
                "replicas": sum(r.state == "ready" for r in sim.replicas),
                "starting": sum(r.state == "starting" for r in sim.replicas),
                "draining": sum(r.state == "draining" for r in sim.replicas),
                "gpus": len(live) * self._gpus,
                "arrivals_per_s": float(sim.arr[window].sum()) / self.sample_s,
                "concurrency": float(sim.conc[window].sum()) / self.sample_s,
                "utilization": float(self.busy_int[window].sum()) / slots if slots else 0.0,
            }
        )

    def close(self, t: float, last_finish: float) -> None:
        """Integrate up to the end; replicas still live are counted until the last request finished."""
        self.before(t, -1, None)
        self.gone = [last_finish if g is None else g for g in self.gone]

    def utilization(self, since: float = 0.0) -> float:
        """Busy slot-seconds over ready slot-seconds from second `since` on."""
        s = int(since)
        return float(np.sum(self.busy_int[s:]) / max(np.sum(self.slots_int[s:]), 1e-9))

    def gpu_hours(self, since: float = 0.0) -> float:
        """GPU-hours of every replica from order to release (the part after `since`)."""
        return (
            sum(max(0.0, (g or 0.0) - max(o, since)) * self._gpus for o, g in zip(self.ordered, self.gone, strict=True))
            / 3600
        )
