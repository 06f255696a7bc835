"""The training-cluster model: jobs arrive, a scheduler orders the queue, a placer picks GPUs, jobs finish.

Event kinds and their order at equal times: FINISH (frees GPUs) < ARRIVE < DEMOTE < SCHEDULE, so a
scheduling pass at time t sees every job that finished or arrived at t. One SCHEDULE event is pending
at most, so simultaneous arrivals are scheduled in one pass (a scheduler on a grid of ticks may move a
wanted pass earlier: the later event is then stale and skipped).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Protocol

from gpufleet.core.gpus import gpu_spec
from gpufleet.optimizer.packing import ClusterView, Placement, Placer, Request, apply, fits_ever, place, undo
from gpufleet.optimizer.packing.place import feasible, fits_node, max_node_gpus
from gpufleet.sim.engine import Engine, FollowUp
from gpufleet.sim.schedulers.base import completed
from gpufleet.sim.workload import Shape, Workload, covers

FINISH, ARRIVE, DEMOTE, SCHEDULE = 0, 1, 2, 3
PRIORITY = {FINISH: 0, ARRIVE: 1, DEMOTE: 2, SCHEDULE: 3}
PENDING, QUEUED, RUNNING, DONE, UNSCHEDULABLE = 0, 1, 2, 3, 4


class JobObserver(Protocol):
    """Told about job transitions: 'arrive', 'start', 'preempt', 'finish', 'unschedulable'."""

    def on_job(self, t: float, what: str, i: int) -> None:
        """One transition of job i at time t."""
        ...


class Quota(Protocol):
    """An admission gate in front of placement (Kueue-style queues: sim/quota.py)."""

    def admit(self, i: int) -> tuple[str | None, ...]:
        """The GPU types (flavors) job i may start on now by quota, in the order to try; [] = not now.
        None in the list means "any type" (the job's own constraint)."""
        ...

    def charge(self, i: int, flavor: str | None) -> None:
        """Job i started on `flavor`."""
        ...

    def release(self, i: int) -> None:
        """Job i stopped (finished or preempted)."""
        ...

    def can_ever(self, i: int) -> bool:
        """Whether job i could ever be admitted (its queue exists and its quota can hold it)."""
        ...

    def admits_without(self, i: int, victims: list[int]) -> list[str | None]:
        """The flavors job i would be admitted on with every victim's GPUs given back ([] = none)."""
        ...


class TrainingSim:
    """State of one replay. Schedulers read it and call try_start / preempt; handlers keep it consistent."""

    def __init__(
        self,
        wl: Workload,
        view: ClusterView,
        scheduler: Any,
        placer: Placer,
        *,
        chunk: int = 8,
        multi_node: bool = True,
        preempt_overhead: float = 60.0,
        speeds: dict[str, float] | None = None,
        observers: list[Any] | None = None,
        quota: Quota | None = None,
    ) -> None:
        self.wl, self.view, self.scheduler, self.placer = wl, view, completed(scheduler), placer
        self.quota = quota
        self.chunk, self.multi_node, self.preempt_overhead = chunk, multi_node, preempt_overhead
        n = wl.n
        self.state = [PENDING] * n
        self.remaining = list(wl.duration)  # work left, in seconds at speed 1.0
        self.attained = [0.0] * n  # GPU-seconds of service received (wall time x GPUs), Tiresias' measure
        self.last_start = [0.0] * n
        self.speed = [1.0] * n
        self.run_overhead = [0.0] * n  # restore overhead paid at the start of the current run
        self.owed_overhead = [0.0] * n  # restore overhead to pay at the next start
        self.epoch = [0] * n  # bumps on start/preempt so a stale FINISH is ignored
        self.placement: list[Placement | None] = [None] * n
        self.queue: dict[int, None] = {}  # queued jobs in (re)arrival order
        self.running: dict[int, None] = {}
        self.queued_sizes: Counter[float] = Counter()
        self.allocated = 0.0
        self.total_gpus = view.total_gpus
        self._speeds = speeds or {}
        self._fits_ever: dict[Shape, bool] = {}
        self._out: list[FollowUp] = []
        # Shapes that did not fit, each with the nodes released since (see try_start).
        self._blocked: dict[Shape, list[int]] = {}
        self._trial_failed: list[Shape] = []  # per pass, see start_preempting
        self._clean: list[Shape] = []  # blocked shapes with nothing released since
        self._next_pass = math.inf  # time of the pending SCHEDULE event (inf: none)
        self._countdown = scheduler.countdown  # Lucid/Helios' per-second countdown (schedulers/base.py)
        # Bumps whenever room may have grown (a job gave its GPUs back, a node came into service): a scheduler
        # that knows its waiting jobs failed since then need not try them again (sjf/qssf, schedulers/priority.py).
        self.room_grew = 0
        self.job_observers: list[JobObserver] = [o for o in (observers or []) if hasattr(o, "on_job")]
        self.engine = Engine(
            {ARRIVE: self._arrive, FINISH: self._finish, DEMOTE: self._demote, SCHEDULE: self._schedule},
            PRIORITY,
            [o for o in (observers or []) if hasattr(o, "before")],
            start=wl.submit[0] if n else 0.0,
        )
        if n:
            self.engine.push(wl.submit[0], ARRIVE, 0)

    # -- what schedulers use -------------------------------------------------------------------------
    lane = 0  # which of a scheduler's passes this is (a quota's queues see two per event: sim/quota.py)

    def retry_token(self) -> object | None:
        """Changes whenever a job that failed to start might start now (here: room was given back), so a
        scheduler that saw the same token at its last pass in this lane need only try jobs that joined since.
        None when that does not hold (never here; under a quota, while a reclaim could free room)."""
        return self.room_grew

    def request(self, i: int) -> Request:
        """The resource request of job i (one shared object per distinct shape)."""
        key = self.wl.shape(i, self.wl.gpu_type[i])
        req = self.view.request(*key)
        if key not in self._fits_ever:
            self._fits_ever[key] = fits_ever(self.view, req, chunk=self.chunk, multi_node=self.multi_node)
        return req

    def try_start(self, i: int, t: float) -> bool:
        """Place and start queued job i now if it fits; False (and no change) otherwise."""
        wl = self.wl
        if wl.gpus[i] > self.total_gpus - self.allocated + 1e-9:
            return False  # cheap check before any vectorized work
        if self.quota is None:
            return self._try_place(i, t, wl.gpu_type[i], None)
        for flavor in self.quota.admit(i):
            # an untyped job admitted on a typed flavor must run on that type (Kueue's flavor assignment)
            gtype = wl.gpu_type[i] if flavor is None or wl.gpu_type[i] is not None else flavor
            if self._try_place(i, t, gtype, flavor):
                return True
        return False

    def gpus_short(self, i: int) -> bool:
        """True when no node (of job i's GPU type) has the GPUs job i needs on one node, CPUs and memory aside:
        until room grows, no job with these GPUs and type can start. False when unsure (gangs across nodes)."""
        wl = self.wl
        # the placer's test with CPUs, memory and RDMA off (the pool stays: it decides which nodes count)
        bare = self.view.request(wl.gpus[i], 0.0, 0.0, wl.gpu_type[i], 0.0, wl.pool[i])
        if self._gang(bare) or not (bare.whole or bare.fraction):
            return False
        return not bool(feasible(self.view, bare).any())

    def _try_place(self, i: int, t: float, gtype: str | None, flavor: str | None) -> bool:
        shape = self.wl.shape(i, gtype)
        req = self.view.request(*shape)
        # Exact shortcuts. A shape that failed can only fit again on a node released since; a shape at least
        # as large as a failed one with nothing released since fails too (feasibility is monotone).
        dirty = self._blocked.get(shape)
        if dirty is not None and not self._gang(req) and not any(fits_node(self.view, req, n) for n in dirty):
            if dirty:
                dirty.clear()
                self._clean.append(shape)
            return False
        for f in self._clean:
            if covers(shape, f):
                return False
        p = place(self.view, req, self.placer, chunk=self.chunk, multi_node=self.multi_node)
        if p is None:
            self._blocked[shape] = []
            self._clean.append(shape)
            return False
        if dirty is not None:
            del self._blocked[shape]
        apply(self.view, p)
        if self.quota is not None:
            self.quota.charge(i, flavor)
        self.placement[i] = p
        del self.queue[i]
        self.queued_sizes[self.wl.gpus[i]] -= 1
        self.running[i] = None
        self.state[i] = RUNNING
        self.allocated += self.wl.gpus[i]
        speed = min(self._speed_of(n) for n in p.nodes) if p.parts else 1.0
        self.speed[i] = speed
        self.run_overhead[i], self.owed_overhead[i] = self.owed_overhead[i], 0.0
        self.last_start[i] = t
        self.epoch[i] += 1
        # Under the countdown a run lasts one second more than what is left: Lucid's loop notices a job has
        # nothing left only at the next tick
        end = t + self.run_overhead[i] + self.remaining[i] / speed + (1.0 if self._countdown else 0.0)
        self._out.append((end, FINISH, (i, self.epoch[i])))
        self._out.extend(self.scheduler.on_start(self, i, t))
        self._tell(t, "start", i)
        return True

    def start_preempting(self, i: int, t: float, victims: list[int]) -> bool:
        """Start queued job i by preempting as few of `victims` (in the given order) as it needs.

        The victims' resources are freed on trial first; if job i still cannot be placed with all of them
        gone (under a quota: admitted and placed on one of the flavors the quota would then allow, as
        try_start does), nothing is preempted (preempting would only cost restore overhead for nothing).
        """
        if self.try_start(i, t):
            return True
        need = self.wl.gpus[i] - (self.total_gpus - self.allocated)
        if need > sum(self.wl.gpus[v] for v in victims) + 1e-9:
            return False  # not enough GPUs even with every victim gone
        wl = self.wl
        gtypes: list[str | None] = [wl.gpu_type[i]]
        if self.quota is not None:
            flavors = self.quota.admits_without(i, victims)
            if not flavors:
                return False  # the quota would still say no: preempt nobody
            if wl.gpu_type[i] is None:
                gtypes = list(dict.fromkeys(flavors))  # an untyped job runs on its flavor's type
        # Within a pass "free + victims" only shrinks (victims become free, starts take), so a shape that
        # failed a trial fails again, as does any shape at least as large: skip (exact).
        shape = wl.shape(i, wl.gpu_type[i])
        for f in self._trial_failed:
            if covers(shape, f):
                return False
        req, view = self.view.request(*shape), self.view
        if req.whole > 0 and not self._whole_gpus_could_fit(req, victims):
            self._trial_failed.append(shape)
            return False
        # trial: free every victim; if it still does not fit, restore and preempt nobody
        for v in victims:
            undo(view, self.placement[v])  # type: ignore[arg-type]
        ok = any(
            place(view, view.request(*wl.shape(i, gt)), self.placer, chunk=self.chunk, multi_node=self.multi_node)
            is not None
            for gt in gtypes
        )
        for v in victims:
            apply(view, self.placement[v])  # type: ignore[arg-type]
        if not ok:
            self._trial_failed.append(shape)
            return False
        # it fits: preempt the fewest victims, in the given order, that make room
        for v in victims:
            self.preempt(v, t)
            if self.try_start(i, t):
                return True
        raise AssertionError("placement failed after the trial showed it fits")  # pragma: no cover

    def _whole_gpus_could_fit(self, req: Request, victims: list[int]) -> bool:
        """A cheap necessary condition for the trial (GPUs only): a one-node job needs one node whose free
        whole GPUs, with the victims gone, reach its size; a gang needs as many distinct such nodes as it
        has chunks (all chunks of `chunk` GPUs but the remainder). Failed trials are the costly ones.
        Nodes without victims count too: the job may have been held back by its quota, not by room."""
        view = self.view
        mask = req.type_mask
        ok = view.active if mask is None else view.active & mask
        freed: dict[tuple[int, int], float] = {}  # shares given back per (node, GPU): shared GPUs add up
        for v in victims:
            for n, slots, *_ in self.placement[v].parts:  # type: ignore[union-attr]
                for s, a in slots:
                    freed[(n, s)] = freed.get((n, s), 0.0) + a
        gain: dict[int, int] = {}
        for (n, s), a in freed.items():
            if view.rows[n][s] < 1.0 - 1e-9 <= view.rows[n][s] + a:
                gain[n] = gain.get(n, 0) + 1
        widest = max_node_gpus(view, mask)
        if req.whole <= widest or not self.multi_node:
            return bool((ok & (view.whole_free >= req.whole)).any()) or any(
                ok[n] and view.whole_free[n] + g >= req.whole for n, g in gain.items()
            )
        chunk = min(self.chunk, widest)
        full, rest = divmod(req.whole, chunk)

        def nodes_with(k: int) -> int:  # distinct nodes that would have k whole GPUs free
            now = int((ok & (view.whole_free >= k)).sum())
            return now + sum(1 for n, g in gain.items() if ok[n] and view.whole_free[n] < k <= view.whole_free[n] + g)

        return nodes_with(chunk) >= full and (rest == 0 or nodes_with(rest) >= full + 1)

    def preempt(self, i: int, t: float) -> None:
        """Stop running job i, keep its progress, and queue it again (it pays the restore overhead later)."""
        elapsed = t - self.last_start[i]
        if self._countdown:
            # Lucid/Helios count every second of a run down and add the restore cost to what is left
            left = max(0.0, self.remaining[i] - elapsed * self.speed[i])
            self.remaining[i] = left + self.scheduler.countdown_overhead(self.wl.gpus[i])
        else:
            progress = max(0.0, elapsed - self.run_overhead[i]) * self.speed[i]
            self.remaining[i] = max(0.0, self.remaining[i] - progress)
        self.attained[i] += elapsed * self.wl.gpus[i]
        self._release(i)
        self.state[i] = QUEUED
        self.queue[i] = None
        self.queued_sizes[self.wl.gpus[i]] += 1
        self.owed_overhead[i] = 0.0 if self._countdown else self.preempt_overhead
        self.epoch[i] += 1
        self._tell(t, "preempt", i)
        # back in the queue: schedulers that keep their own order (sjf, qssf, per-queue quotas) re-insert it
        self.scheduler.on_arrive(self, i, t)

    def work_done(self, i: int, t: float) -> float:
        """Seconds of work (at speed 1.0) job i has completed up to t."""
        done = self.wl.duration[i] - self.remaining[i]
        if self.state[i] == RUNNING:
            done += max(0.0, t - self.last_start[i] - self.run_overhead[i]) * self.speed[i]
        return done

    def expected_end(self, i: int, t: float) -> float:
        """When running job i is expected to end, by the predictor (never before t)."""
        left = max(self.wl.pred[i] - self.work_done(i, t), 0.0) / self.speed[i]
        return max(t, self.last_start[i] + self.run_overhead[i]) + left

    # -- handlers ------------------------------------------------------------------------------------
    def _arrive(self, t: float, i: int) -> list[FollowUp]:
        out: list[FollowUp] = []
        if i + 1 < self.wl.n:
            out.append((self.wl.submit[i + 1], ARRIVE, i + 1))
        self.request(i)  # caches whether the job's shape fits the empty cluster at all
        if not self._fits_ever[self.wl.shape(i, self.wl.gpu_type[i])] or (
            self.quota is not None and not self.quota.can_ever(i)
        ):
            self.state[i] = UNSCHEDULABLE
            self._tell(t, "unschedulable", i)
            return out
        self.state[i] = QUEUED
        self.queue[i] = None
        self.queued_sizes[self.wl.gpus[i]] += 1
        self.scheduler.on_arrive(self, i, t)
        self._tell(t, "arrive", i)
        if not self.scheduler.pass_on_arrival(self, i):
            return out  # fifo behind a blocked head: the pass would fail at the same head
        return out + self._want_schedule(t)

    def _finish(self, t: float, payload: tuple[int, int]) -> list[FollowUp]:
        i, epoch = payload
        if epoch != self.epoch[i] or self.state[i] != RUNNING:
            return []  # the run this event belonged to was preempted
        self.remaining[i] = 0.0
        self.attained[i] += (t - self.last_start[i]) * self.wl.gpus[i]
        self._release(i)
        self.state[i] = DONE
        self._tell(t, "finish", i)
        return self._want_schedule(t)

    def _demote(self, t: float, payload: tuple[int, int]) -> list[FollowUp]:
        i, epoch = payload
        if epoch != self.epoch[i] or self.state[i] != RUNNING:
            return []
        return self._want_schedule(t)

    def _schedule(self, t: float, at: float) -> list[FollowUp]:
        if at != self._next_pass:
            return []  # an earlier pass was wanted since this one was pushed, and has run
        self._next_pass = math.inf
        self._out = []
        self._trial_failed.clear()
        if self.queue:
            self.scheduler.schedule(self, t)
            again = self.scheduler.revisit(self, t)
            if again is not None:
                self._out += self._want_schedule(again)
        return self._out

    # -- internals -----------------------------------------------------------------------------------
    def _want_schedule(self, t: float) -> list[FollowUp]:
        at = self.scheduler.pass_time(t)
        if at >= self._next_pass:
            return []  # a pass is pending by then
        self._next_pass = at
        return [(at, SCHEDULE, at)]

    def _release(self, i: int) -> None:
        self.room_grew += 1
        p = self.placement[i]
        if p is not None:
            undo(self.view, p)
            nodes = p.nodes
            for dirty in self._blocked.values():
                dirty.extend(nodes)
            self._clean.clear()
        self.placement[i] = None
        if self.quota is not None:
            self.quota.release(i)
        del self.running[i]
        self.allocated -= self.wl.gpus[i]
        if abs(self.allocated) < 1e-9:
            self.allocated = 0.0

    def _gang(self, req: Request) -> bool:
        """Whether the request spans nodes (then the released-nodes shortcut does not apply)."""
        return req.whole > max_node_gpus(self.view, req.type_mask)

    def _speed_of(self, node: int) -> float:
        gtype = self.view.gpu_type[node]
        return self._speeds.get(gtype or "", self._speeds.get("*", 1.0))

    def _tell(self, t: float, what: str, i: int) -> None:
        for o in self.job_observers:
            o.on_job(t, what, i)

    def run(self) -> float:
        """Replay every job; returns the time of the last event."""
        return self.engine.run()


def spec_speeds(view: ClusterView, reference: str = "V100") -> dict[str, float]:
    """Per-type speed factors from the GPU spec table, relative to `reference` (unknown types: 1.0)."""
    ref = gpu_spec(reference).speed
    return {t: gpu_spec(t).speed / ref for t in set(view.gpu_type) if t}
