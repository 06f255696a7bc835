"""Node-pool scaling inside a training replay: a PoolController carries out a PoolScaler's plans.

It adds two event kinds to the TrainingSim's engine: POOL (a decision, every `period_s`; after the
scheduling pass at the same time) and NODE_UP (an ordered node enters service `provision_delay_s` later;
before anything else at that time, like a finish). A removed node leaves at once; jobs still on it are
preempted and queued again (they pay the restore overhead). GPU-hours count every node in service or
provisioning, from the first arrival to the last finish.

Predicted waits (for the `predictive` scaler) walk the queue in order against the GPUs the running jobs
free at their predicted ends — pooled GPUs of the nodes in service, so fragmentation and GPU-type limits
are ignored there (an optimistic estimate; the scheduler still places exactly).
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from gpufleet.optimizer.autoscaling.pools import PoolPlan, PoolScaler, PoolState
from gpufleet.optimizer.packing.place import feasible, max_node_gpus

POOL, NODE_UP = 10, 11
QUEUE_LOOKAHEAD = 500  # queued jobs whose waits are predicted per decision (the rest count as waiting)


class PoolController:
    """Attach to a TrainingSim (as an observer) to let a PoolScaler resize its node pool."""

    def __init__(self, scaler: PoolScaler, provision_delay_s: float) -> None:
        self.scaler = scaler
        self.delay = provision_delay_s
        self.sim: Any = None
        self.area = 0.0  # GPU-seconds of nodes in service or provisioning
        self.node_area: np.ndarray = np.zeros(0)  # the same per node, for GPU-hours per GPU type
        self.last_t: float | None = None
        self.added = 0
        self.removed = 0
        self.preempted = 0
        self.actions: list[dict[str, Any]] = []

    def attach(self, sim: Any) -> None:
        """Hook into the replay: event handlers, priorities, the first decision."""
        self.sim = sim
        view = sim.view
        n = view.n
        self.provisioning = np.zeros(n, dtype=bool)
        self.node_area = np.zeros(n)
        self.low_since = np.full(n, math.inf)
        self.empty_since = np.full(n, math.inf)
        eng = sim.engine
        eng.handlers[POOL] = self._decide
        eng.handlers[NODE_UP] = self._node_up
        eng.priorities[POOL] = 4
        eng.priorities[NODE_UP] = 0
        self.last_submit = sim.wl.submit[-1] if sim.wl.n else 0.0
        if sim.wl.n:
            eng.push(sim.wl.submit[0], POOL, None)

    # -- accounting ----------------------------------------------------------------------------------
    def _pool_gpus(self) -> float:
        view = self.sim.view
        return float(view.gpu_total[view.active | self.provisioning].sum())

    def before(self, t: float, kind: int, payload: Any) -> None:
        """Integrate the pool's GPUs up to t."""
        if self.last_t is not None and t > self.last_t:
            sim = self.sim
            # count only while there is work or more to come: after the last finish the replay is over
            if sim.queue or sim.running or self.last_t < self.last_submit:
                self.area += self._pool_gpus() * (t - self.last_t)
                self._node_seconds(t - self.last_t)
        self.last_t = t if self.last_t is None else max(self.last_t, t)

    def gpu_hours(self, until: float) -> float:
        """GPU-hours of the pool up to `until` (the last finish)."""
        extra = self._pool_gpus() * max(0.0, until - (self.last_t or until))
        return (self.area + extra) / 3600

    def gpu_hours_by_type(self, until: float) -> dict[str, float]:
        """`gpu_hours(until)` per GPU type."""
        from gpufleet.sim.costing import by_type

        return by_type(
            self.sim.view.gpu_type, self.node_area + self._node_gpus() * max(0.0, until - (self.last_t or until))
        )

    def _node_gpus(self) -> np.ndarray:
        view = self.sim.view
        return np.where(view.active | self.provisioning, view.gpu_total, 0)

    def _node_seconds(self, dt: float) -> None:
        self.node_area += self._node_gpus() * dt

    # -- the decision --------------------------------------------------------------------------------
    def state(self, t: float) -> PoolState:
        """What the scaler sees."""
        sim, view = self.sim, self.sim.view
        alloc = view.gpu_total - view.free_sum
        active = view.active
        low = active & (alloc < 0.5 * view.gpu_total - 1e-9) & (view.gpu_total > 0)
        self.low_since = np.where(low, np.minimum(self.low_since, t), math.inf)
        empty = active & (alloc <= 1e-9)
        self.empty_since = np.where(empty, np.minimum(self.empty_since, t), math.inf)
        queued = list(sim.queue)[:QUEUE_LOOKAHEAD]
        gpus = np.array([sim.wl.gpus[i] for i in queued], dtype=float)
        types = [set(sim.wl.gpu_type[i].split("|")) if sim.wl.gpu_type[i] else None for i in queued]
        fits = np.array([self._fits_now(i) for i in queued], dtype=bool)
        return PoolState(
            now=t,
            gpu_type=view.gpu_type,
            gpus=view.gpu_total,
            active=active.copy(),
            provisioning=self.provisioning.copy(),
            allocated=alloc,
            low_since=self.low_since.copy(),
            empty_since=self.empty_since.copy(),
            queue_gpus=gpus,
            queue_types=types,
            queue_fits_now=fits,
            queue_predicted_wait=self._predicted_waits(queued, t),
            queue_waited=np.array([t - sim.wl.submit[i] for i in queued], dtype=float),
            movable=self._movable(low),
        )

    def _movable(self, candidates: np.ndarray) -> np.ndarray:
        """Per node (among `candidates`, the others False): every job running on it would fit on the other
        nodes in service now — Cluster Autoscaler's drain simulation. Checked on free GPUs per node, the job's
        GPU types and pool, the largest job first, each on the fullest node it fits (best fit); a gang that
        spans nodes is never moved. CPUs and memory are not checked here (a documented simplification)."""
        sim, view = self.sim, self.sim.view
        out = np.zeros(view.n, dtype=bool)
        nodes = np.flatnonzero(candidates & (view.free_sum < view.gpu_total - 1e-9))
        if not len(nodes):
            return out
        on: dict[int, list[int]] = {}
        spans: set[int] = set()
        for i in sim.running:
            where = sim.placement[i].nodes
            for n in where:
                on.setdefault(n, []).append(i)
            if len(set(where)) > 1:
                spans.update(where)
        for n in nodes:
            jobs = on.get(int(n), [])
            if int(n) in spans or not jobs:
                continue
            free = np.where(view.active, view.free_sum, 0.0)
            free[n] = 0.0
            ok = True
            for i in sorted(jobs, key=lambda i: -sim.wl.gpus[i]):
                g, mask = sim.wl.gpus[i], sim.request(i).type_mask
                fits = free >= g - 1e-9
                if mask is not None:
                    fits &= mask
                if not fits.any():
                    ok = False
                    break
                best = int(np.flatnonzero(fits)[np.argmin(free[fits])])
                free[best] -= g
            out[n] = ok
        return out

    def _fits_now(self, i: int) -> bool:
        sim, view = self.sim, self.sim.view
        req = sim.request(i)
        if req.whole <= max_node_gpus(view, req.type_mask):
            return bool(feasible(view, req).any())
        ok = view.active if req.type_mask is None else view.active & req.type_mask
        return float(view.free_sum[ok].sum()) >= req.gpus - 1e-9

    def _predicted_waits(self, queued: list[int], t: float) -> np.ndarray:
        sim = self.sim
        free = sim.view.active_gpus - sim.allocated
        ends = [(sim.expected_end(i, t), sim.wl.gpus[i]) for i in sim.running]
        heapq.heapify(ends)
        now = t
        out = np.zeros(len(queued))
        cap = sim.view.active_gpus
        for k, i in enumerate(queued):
            g = sim.wl.gpus[i]
            if g > cap + 1e-9:
                out[k] = math.inf
                continue
            while free < g - 1e-9 and ends:
                e, gg = heapq.heappop(ends)
                now = max(now, e)
                free += gg
            if free < g - 1e-9:
                out[k] = math.inf
                continue
            out[k] = now - t
            free -= g
            heapq.heappush(ends, (now + sim.wl.pred[i], g))
        return out

    def _decide(self, t: float, _: Any) -> list[tuple[float, int, Any]]:
        sim = self.sim
        plan: PoolPlan = self.scaler.decide(self.state(t))
        out: list[tuple[float, int, Any]] = []
        for n in plan.add:
            if sim.view.active[n] or self.provisioning[n]:
                continue
            self.provisioning[n] = True
            self.added += 1
            out.append((t + self.delay, NODE_UP, n))
        changed = False
        for n in plan.remove:
            if not sim.view.active[n]:
                continue
            for i in [i for i in sim.running if n in sim.placement[i].nodes]:
                sim.preempt(i, t)
                self.preempted += 1
            sim.view.set_active(n, False)
            self.removed += 1
            changed = True
        if changed:
            sim.total_gpus = sim.view.active_gpus
            out += sim._want_schedule(t)
        if plan.add or plan.remove:
            self.actions.append({"t": t, "add": len(plan.add), "remove": len(plan.remove), "reason": plan.reason})
        if sim.queue or sim.running or t < self.last_submit:
            out.append((t + self.scaler.period_s, POOL, None))
        return out

    def _node_up(self, t: float, n: int) -> list[tuple[float, int, Any]]:
        sim = self.sim
        self.provisioning[n] = False
        sim.view.set_active(n, True)
        sim.total_gpus = sim.view.active_gpus
        sim.room_grew += 1
        # new capacity: shapes blocked so far may fit on this node (the simulator's exact memo)
        for dirty in sim._blocked.values():
            dirty.append(n)
        sim._clean.clear()
        return list(sim._want_schedule(t))
