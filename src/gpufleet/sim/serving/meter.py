"""Measuring a serving replay: an observer of the fleet's events, kept out of the simulation loop.

ServingSim tells its observers what happens (a request starts or finishes, a replica is ordered, becomes
ready, stops or is cancelled, a decision is taken, a sample is due) and the engine shows them every event
before it is handled; FleetMeter turns that into per-request start and finish times, per-second integrals
of busy and ready slots, the per-minute timeline, the decisions and scaling actions, pipeline switches
(loads and their seconds) and GPU-hours.
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

    def on_request(self, t: float, what: str, i: int, rid: int) -> None:
        """Request i got a slot on replica rid ('start') or left it ('finish') at t."""
        ...

    def on_switch(self, t: float, rid: int, members: list[int], loads: dict[str, float]) -> None:
        """Replica rid loaded what the run of `members` needs before starting it at t: seconds per load
        ('base' model, 'lora' adapters, 'control' net)."""
        ...

    def on_replica(self, t: float, what: str, rid: int) -> None:
        """Replica rid was ordered ('order'), began serving ('ready'), was released after serving ('stop') or
        cancelled while starting ('cancel') at t."""
        ...

    def on_decision(self, t: float, state: FleetState, plan: ScalingPlan) -> None:
        """The autoscaler saw `state` at t and chose `plan`."""
        ...

    def on_sample(self, t: float, ready: int, starting: int, draining: int) -> None:
        """A timeline sample is due at t (the fleet's demand history is integrated up to t; the fleet at t had
        these replicas)."""
        ...

    def on_quiet_samples(self, times: list[float], ready: int, starting: int, draining: int) -> None:
        """Timeline samples were due at `times` (consecutive) while the fleet sat idle and unchanged, as given."""
        ...

    def close(self, t: float, last_finish: float) -> None:
        """The replay ended at t; the last request finished at `last_finish`."""
        ...


def integrate(bins: np.ndarray, level: float, last: float, t: float) -> None:
    """Add `level` x (overlap with each second) of [last, t) to per-second `bins`, whole seconds in one slice (the
    same sums, bin by bin, as stepping one second at a time: an idle hour costs one slice, not 3,600 steps)."""
    b0, b1 = int(last), int(t)
    if b0 == b1:
        bins[b0] += level * (t - last)
        return
    bins[b0] += level * (b0 + 1.0 - last)
    if b1 > b0 + 1:
        bins[b0 + 1 : b1] += level * 1.0
    if t > b1:
        bins[b1] += level * (t - b1)


class FleetMeter:
    """Latencies, the per-minute timeline, decisions, scaling actions, utilization and GPU-hours of one replay."""

    def __init__(self, keep_timeline: bool = True) -> None:
        self.keep_timeline = keep_timeline  # off: no per-minute rows (a fleet design replays many pools)
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
        self.gpus: list[int] = []  # per replica: the GPUs it holds and their type
        self.gpu_type: list[str | None] = []
        self.speed = np.ones(0)  # per request: the speed of the replica that ran it (prefill takes prefill/speed)
        self.switch_s = np.zeros(0)  # per request: seconds its run spent loading a pipeline first
        self.loads: dict[str, int] = {"base": 0, "lora": 0, "control": 0}  # loads per kind
        self.load_s: dict[str, float] = {"base": 0.0, "lora": 0.0, "control": 0.0}  # replica-seconds loading
        # every load: when, which kind, how long (a fleet design scores windows of a replay)
        self.switch_at: list[float] = []
        self.switch_kinds: list[str] = []
        self.switch_seconds: list[float] = []
        self._busy = 0
        self._ready_slots = 0
        self._last_t = 0.0
        self._slots = 0
        # GPUs held by replicas ordered and not yet gone: in all, and per type on a mixed fleet (timeline columns
        # gpus_<type>); `_sampled` is the fleet at the last sample (quiet samples after it are of that fleet)
        self._live_gpus: dict[str, int] = {"gpus": 0}
        self._sampled: dict[str, int] = {"gpus": 0}
        self._sim: ServingSim | None = None

    def attach(self, sim: ServingSim) -> None:
        """Size the arrays for this replay (as the fleet sizes its demand history: equal lengths, equal sums)."""
        self._sim, self.sample_s = sim, sim.sample_s
        n = len(sim.arrival)
        self.start, self.finish = np.full(n, np.nan), np.full(n, np.nan)
        self.switch_s, self.speed = np.zeros(n), np.ones(n)
        size = len(sim.conc)
        self.busy_int, self.slots_int = np.zeros(size), np.zeros(size)
        self._slots = sim.capacity
        if sim.types.mixed:
            self._live_gpus |= {f"gpus_{t.gpu_type}": 0 for t in sim.types.types}
            self._sampled = dict(self._live_gpus)

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
        if self._busy:
            integrate(self.busy_int, self._busy, last, t)
        if self._ready_slots:
            integrate(self.slots_int, self._ready_slots, last, t)
        self._last_t = t

    def on_request(self, t: float, what: str, i: int, rid: int) -> None:
        """A request took a slot or gave it back."""
        if what == "start":
            self._busy += 1
            self.start[i] = t
            assert self._sim is not None
            self.speed[i] = self._sim.replicas[rid].speed
        else:
            self._busy -= 1
            self.finish[i] = t

    def on_switch(self, t: float, rid: int, members: list[int], loads: dict[str, float]) -> None:
        """Count the loads; the run's requests each waited their sum."""
        for what, seconds in loads.items():
            self.loads[what] += 1
            self.load_s[what] += seconds
            self.switch_at.append(t)
            self.switch_kinds.append(what)
            self.switch_seconds.append(seconds)
        self.switch_s[members] = sum(loads.values())

    def on_replica(self, t: float, what: str, rid: int) -> None:
        """A replica's ordered/ready/gone times and the ready slots."""
        if what == "order":
            assert self._sim is not None
            r = self._sim.replicas[rid]
            self.ordered.append(t)
            self.gone.append(None)
            self.gpus.append(r.gpus)
            self.gpu_type.append(r.gpu_type)
            self._count_gpus(r.gpu_type, r.gpus)
        elif what == "ready":
            self._ready_slots += self._slots
        else:
            if what == "stop":
                self._ready_slots -= self._slots
            self.gone[rid] = t
            self._count_gpus(self.gpu_type[rid], -self.gpus[rid])

    def _count_gpus(self, gpu_type: str | None, n: int) -> None:
        self._live_gpus["gpus"] += n
        key = f"gpus_{gpu_type}"
        if key in self._live_gpus:
            self._live_gpus[key] += n

    def on_decision(self, t: float, state: FleetState, plan: ScalingPlan) -> None:
        """Record what the policy saw and chose, and the change when there was one."""
        self.decisions.append((t, state.ready, state.starting, state.service_s, plan.desired))
        if plan.desired != state.current:
            self.actions.append({"t": t, "from": state.current, "to": plan.desired, "reason": plan.reason})

    def on_sample(self, t: float, ready: int, starting: int, draining: int) -> None:
        """One timeline row: the fleet at t, and demand, concurrency and utilization over the last sample_s."""
        self._sampled = dict(self._live_gpus)  # quiet samples after this one are of this fleet
        if self.keep_timeline:
            self._row(t, ready, starting, draining, self._sampled)

    def _row(self, t: float, ready: int, starting: int, draining: int, gpus: dict[str, int]) -> None:
        sim = self._sim
        assert sim is not None
        a, b = int(t - self.sample_s), int(t)
        window = slice(max(a, 0), b)
        slots = float(self.slots_int[window].sum())
        self.timeline.append(
            {
                "t": t,
                "replicas": ready,
                "starting": starting,
                "draining": draining,
                **gpus,
                "arrivals_per_s": float(sim.arr[window].sum()) / self.sample_s,
                "concurrency": float(sim.conc[window].sum()) / self.sample_s,
                "utilization": float(self.busy_int[window].sum()) / slots if slots else 0.0,
            }
        )

    def on_quiet_samples(self, times: list[float], ready: int, starting: int, draining: int) -> None:
        """The rows of samples that fell while the fleet sat idle, in one numpy pass: their windows hold whole
        numbers (no request, the same ready slots every second), so any order of summing gives the same floats."""
        sim = self._sim
        assert sim is not None
        w, k = self.sample_s, len(times)
        a = times[0] - w if times else -1.0
        if not self.keep_timeline or not times:
            return
        if a < 0 or not (a.is_integer() and w.is_integer()):
            for t in times:  # fractional windows: one at a time, as on_sample would
                self._row(t, ready, starting, draining, self._sampled)
            return
        lo, step = int(a), int(w)

        def sums(x: np.ndarray) -> np.ndarray:
            return x[lo : lo + k * step].reshape(k, step).sum(axis=1)

        slots, busy, arrivals, conc = sums(self.slots_int), sums(self.busy_int), sums(sim.arr), sums(sim.conc)
        gpus = self._sampled
        for j, t in enumerate(times):
            self.timeline.append(
                {
                    "t": t,
                    "replicas": ready,
                    "starting": starting,
                    "draining": draining,
                    **gpus,
                    "arrivals_per_s": float(arrivals[j]) / w,
                    "concurrency": float(conc[j]) / w,
                    "utilization": float(busy[j]) / float(slots[j]) if slots[j] else 0.0,
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
        spans = zip(self.ordered, self.gone, self.gpus, strict=True)
        return sum(max(0.0, (g or 0.0) - max(o, since)) * n for o, g, n in spans) / 3600

    def gpu_hours_by_type(self, since: float = 0.0) -> dict[str | None, float]:
        """GPU-hours per GPU type of every replica from order to release (the part after `since`), types in the
        order their first replica was ordered."""
        out: dict[str | None, float] = {}
        for o, g, n, k in zip(self.ordered, self.gone, self.gpus, self.gpu_type, strict=True):
            out[k] = out.get(k, 0.0) + max(0.0, (g or 0.0) - max(o, since)) * n
        return {k: v / 3600 for k, v in out.items()}
