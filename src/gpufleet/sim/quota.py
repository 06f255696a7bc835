"""Kueue-style quotas on a shared cluster: queues with a nominal quota per GPU type, cohorts that lend
unused quota, borrowing and lending limits, and reclaim by preempting the borrowers' youngest jobs.

Semantics (after Kueue's ClusterQueue, KEP-1714 lending limits, and its preemption rules):
- Each job belongs to one queue (its `group` names it; `groups:` maps several groups onto one queue).
- A flavor is a GPU type. A queue's `nominal` is GPUs per flavor (a plain number means any type). A job
  with a type uses that flavor; an untyped job takes the first of its queue's flavors with room, in the
  order they are written, and is then placed on nodes of that type.
- Per flavor, a queue keeps `nominal - lending_limit` to itself (all of it lendable when no limit); the
  lendable parts of a cohort's queues form the cohort's shared pool. A queue may use up to
  `nominal + borrowing_limit` (no limit: the pool is the limit) while the pool has room.
- Admission is quota, then placement: a job starts when its queue's quota admits it AND the placer finds
  nodes. Quotas are GPUs, not nodes, so fragmentation can still make a job wait.
- Reclaim: a job that fits within its queue's nominal quota but cannot start preempts jobs of queues in
  its cohort that are borrowing, the most recently started first, and only while their queue is still
  above its nominal quota (Kueue's `reclaimWithinCohort: Any`); nothing is preempted unless the job then
  starts. Preempted jobs pay the simulator's restore overhead.
- Every scheduler works inside each queue: each queue has its own instance (the run's scheduler, or the
  queue's `scheduler:`). A scheduling pass runs two rounds over the queues, oldest head first: the first
  admits only within nominal quotas (and reclaims), the second lets queues borrow - as Kueue prefers
  workloads that fit their nominal quota over borrowing ones.
Not modelled: priorities (and Kueue's `withinClusterQueue` / `borrowWithinCohort` preemption by
priority), hierarchical cohorts, CPU/memory quotas (only GPUs are limited by quota).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpufleet.core.errors import GpufleetError
from gpufleet.sim.engine import FollowUp
from gpufleet.sim.quota_spec import QuotaSpec
from gpufleet.sim.schedulers import Scheduler, SchedulerSettings, make_scheduler

if TYPE_CHECKING:
    from gpufleet.sim.training import TrainingSim

EPS = 1e-9
INF = float("inf")
ANY = "*"


def _per_flavor(v: float | dict[str, float] | None, flavors: list[str], default: float) -> dict[str, float]:
    if v is None:
        return dict.fromkeys(flavors, default)
    if isinstance(v, dict):
        return {f: float(v.get(f, 0.0 if default == 0.0 else default)) for f in flavors}
    return dict.fromkeys(flavors, float(v))


class QueueView:
    """What one queue's scheduler sees: its own queued and running jobs, its quota as the capacity, and a
    try_start that goes through the quota (and reclaims); everything else is the simulator's."""

    def __init__(self, sim: TrainingSim, quota: QuotaScheduler, q: int) -> None:
        self._sim, self._quota, self._q = sim, quota, q
        self.queue: dict[int, None] = {}
        self.running: dict[int, None] = {}
        self.blocked_on_place = False  # the last try of this pass failed with the quota's consent
        self.wl = sim.wl
        self.attained, self.last_start, self.epoch = sim.attained, sim.last_start, sim.epoch
        self.expected_end, self.work_done, self.start_preempting = (
            sim.expected_end,
            sim.work_done,
            sim.start_preempting,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)

    @property
    def allocated(self) -> float:
        """GPUs this queue's jobs hold."""
        return self._quota.held[self._q]

    @property
    def total_gpus(self) -> float:
        """What this queue could hold now: its usage plus its quota headroom (an upper bound: placement
        and reclaim decide the rest)."""
        return self.allocated + self._quota.headroom(self._q)

    @property
    def lane(self) -> int:
        """The round this pass belongs to (0 nominal, 1 borrowing): a failure in one says little of the other."""
        return self._quota.mode

    def retry_token(self) -> object | None:
        """What must change before a job this queue failed to start in this round could start (see
        TrainingSim.retry_token): room given back. None while a reclaim could run (nominal round, a cohort-mate
        borrows): it frees room in the middle of a pass. (A cohort-mate that starts borrowing after a pass makes
        this None until a release, so the token need not count borrowing starts.)"""
        quota = self._quota
        return None if quota.mode == 0 and quota.may_reclaim(self._q) else self._sim.room_grew

    def try_start(self, i: int, t: float) -> bool:
        """Start through the quota; in the nominal round, reclaim lent quota when that is what it takes."""
        quota, q = self._quota, self._q
        quota.refused = False
        if self._sim.try_start(i, t):
            self.blocked_on_place = False
            return True
        # the quota let it in (or the free GPUs alone were too few): only freed resources can help it
        self.blocked_on_place = not quota.refused
        # reclaim only in the nominal round, when reclaim is on and another queue of the cohort borrows
        # (may_reclaim, inlined: a failed start is the hottest path under the skipping schedulers)
        if (
            quota.mode == 0
            and quota.spec.reclaim
            and quota.cohort_borrowed[quota.cohort[q]] - quota.borrowed_now[q] > EPS
            and quota.reclaim(i, t)
        ):
            self.blocked_on_place = False
            return True
        return False


class QuotaScheduler:
    """The simulator's scheduler and quota gate at once: dispatches to one scheduler per queue."""

    skip_clean = True  # skip queues whose pass cannot change anything (see _dirty); the test switches it off

    def __init__(self, spec: QuotaSpec, scheduler: str, settings: SchedulerSettings) -> None:
        self.spec = spec
        self.names = list(spec.queues)
        typed = [isinstance(q.nominal, dict) for q in spec.queues.values()]
        if any(typed) and not all(typed):
            raise GpufleetError("quota: give every queue's nominal per GPU type, or every one as a number")
        if all(typed):
            flavors: list[str] = []
            for q in spec.queues.values():
                flavors += [f for f in q.nominal if f not in flavors]  # type: ignore[union-attr]
        else:
            flavors = [ANY]
        self.flavors = flavors
        fidx = {f: k for k, f in enumerate(flavors)}
        self._fidx = fidx
        self.nominal = [list(_per_flavor(q.nominal, flavors, 0.0).values()) for q in spec.queues.values()]
        self.blimit = [list(_per_flavor(q.borrowing_limit, flavors, INF).values()) for q in spec.queues.values()]
        lend = [_per_flavor(q.lending_limit, flavors, INF) for q in spec.queues.values()]
        # the part of nominal a queue never lends
        self.guaranteed = [
            [max(0.0, n - min(lend[q][f], n)) for n, f in zip(self.nominal[q], flavors, strict=True)]
            for q in range(len(self.names))
        ]
        cohorts: dict[str, int] = {}
        self.cohort = [
            cohorts.setdefault(spec_q.cohort, len(cohorts)) if spec_q.cohort else -1 for spec_q in spec.queues.values()
        ]
        for k, c in enumerate(self.cohort):  # a queue without a cohort is a cohort of its own
            if c < 0:
                self.cohort[k] = len(cohorts) + k
        ids = sorted(set(self.cohort))
        remap = {c: k for k, c in enumerate(ids)}
        self.cohort = [remap[c] for c in self.cohort]
        self.members: list[list[int]] = [[q for q, c in enumerate(self.cohort) if c == k] for k in range(len(ids))]
        nf = len(flavors)
        self.pool_cap = [
            [sum(self.nominal[q][f] - self.guaranteed[q][f] for q in m) for f in range(nf)] for m in self.members
        ]
        self.pool_used = [[0.0] * nf for _ in self.members]
        self.usage = [[0.0] * nf for _ in self.names]
        self.held = [0.0] * len(self.names)  # usage summed over flavors, per queue
        self.borrowed_now = [0.0] * len(self.names)  # GPUs above nominal per queue, kept by _add
        self.cohort_borrowed = [0.0] * len(self.members)  # and their sum per cohort
        self._single = flavors == [ANY]
        by_group: dict[str, int] = {}
        for k, (name, spec_q) in enumerate(spec.queues.items()):
            for g in spec_q.groups or [name]:
                if g in by_group:
                    raise GpufleetError(
                        f"quota: group {g!r} is listed by queues {self.names[by_group[g]]!r} and {name!r}"
                    )
                by_group[g] = k
        if spec.default_queue is not None and spec.default_queue not in spec.queues:
            raise GpufleetError(f"quota: default_queue {spec.default_queue!r} is not one of the queues")
        self._by_group = by_group
        self._default = self.names.index(spec.default_queue) if spec.default_queue else -1
        self.job_queue: list[int] = []
        self.no_queue_jobs = 0
        self.over_quota_jobs = 0
        self.flavor_of: dict[int, int] = {}
        self.reclaims = 0  # jobs preempted to give lent quota back
        # Reclaims that failed in this pass, by (queue, flavor, shape). Until something is preempted, a pass
        # only starts jobs (less free, more usage; no queue starts borrowing in the nominal round), so the
        # same or a larger shape fails again: skipped exactly, like the simulator's trial memo.
        self._reclaim_failed: list[tuple[int, int, float, float, float]] = []
        self._reclaim_stopped: set[int] = set()  # queues done reclaiming in this pass
        self.mode = 0
        self.scheds: list[Scheduler] = [
            make_scheduler(qs.scheduler or scheduler, settings) for qs in spec.queues.values()
        ]
        self.preemptive = any(s.preemptive for s in self.scheds)
        self.idle_until_change = False  # as the simulator's scheduler: its queues decide for themselves
        # Per queue and round: whether its last pass could have an outcome different from "nothing". A
        # queue whose scheduler is idle_until_change and whose last pass in that round ran to the end is
        # skipped until a job joins it, any job gives GPUs back (room and quota can only have shrunk
        # otherwise), or - for the nominal round, whose reclaim takes from borrowers - a cohort-mate starts
        # borrowing. Exact: a skipped pass would have started nothing and changed nothing (the test replays
        # with skipping off).
        self._dirty = [[True, True] for _ in self.names]
        self._idle = [s.idle_until_change for s in self.scheds]
        # Schedulers whose pass ends at the first job that does not start (fifo; sjf/qssf with `blocking`).
        # With one flavor, if that job failed with the quota's consent (placement), the borrowing round
        # would try the same job on the same nodes first and fail again: it is skipped (exact).
        self._stops = [s.idle_until_change and getattr(s, "stops_at_first_failure", False) for s in self.scheds]
        self.refused = False  # set by admit: the last job tried was refused by the quota
        self.uses_prediction = any(s.uses_prediction for s in self.scheds)
        self.views: list[QueueView] = []
        self.sim: TrainingSim | None = None

    def bind(self, sim: TrainingSim) -> None:
        """Attach to the simulator (after it is built: the views read its state)."""
        self.sim = sim
        self.views = [QueueView(sim, self, q) for q in range(len(self.names))]
        groups = sim.wl.group or [None] * sim.wl.n
        d = self._default
        self.job_queue = [self._by_group.get(g, d) if g is not None else d for g in groups]
        self.no_queue_jobs = sum(1 for q in self.job_queue if q < 0)

    # -- quota arithmetic ----------------------------------------------------------------------------
    def _fits(self, q: int, f: int, g: float, limit: float, pool_used: float | None = None) -> bool:
        u = self.usage[q][f]
        if u + g > limit + EPS:
            return False
        gq = self.guaranteed[q][f]
        add = max(0.0, u + g - gq) - max(0.0, u - gq)
        c = self.cohort[q]
        used = self.pool_used[c][f] if pool_used is None else pool_used
        return used + add <= self.pool_cap[c][f] + EPS

    def _candidates(self, i: int) -> list[int]:
        gtype = self.sim.wl.gpu_type[i]  # type: ignore[union-attr]
        if self._single:
            return [0]
        if gtype is not None:
            f = self._fidx.get(gtype)
            return [] if f is None else [f]
        q = self.job_queue[i]
        return [f for f in range(len(self.flavors)) if self.nominal[q][f] + self.blimit[q][f] > 0]

    def admit(self, i: int) -> tuple[str | None, ...]:
        """Flavors job i may start on now (the nominal round admits only within nominal quota)."""
        q = self.job_queue[i]
        g = self.sim.wl.gpus[i]  # type: ignore[union-attr]
        if self._single:  # the common case, _fits inlined: it runs for every job tried
            u, gq, c = self.usage[q][0], self.guaranteed[q][0], self.cohort[q]
            limit = self.nominal[q][0] if self.mode == 0 else self.nominal[q][0] + self.blimit[q][0]
            if u + g > limit + EPS:
                self.refused = True
                return ()
            add = (u + g - gq if u + g > gq else 0.0) - (u - gq if u > gq else 0.0)
            if self.pool_used[c][0] + add <= self.pool_cap[c][0] + EPS:
                return (None,)
            self.refused = True
            return ()
        out: list[str | None] = []
        for f in self._candidates(i):
            limit = self.nominal[q][f] if self.mode == 0 else self.nominal[q][f] + self.blimit[q][f]
            if self._fits(q, f, g, limit):
                out.append(None if self.flavors[f] == ANY else self.flavors[f])
        return tuple(out)

    def can_ever(self, i: int) -> bool:
        """Whether the job has a queue and a flavor whose quota could ever hold it."""
        q = self.job_queue[i]
        if q < 0:
            return False
        g = self.sim.wl.gpus[i]  # type: ignore[union-attr]
        c = self.cohort[q]
        for f in self._candidates(i):
            most = min(self.nominal[q][f] + self.blimit[q][f], self.guaranteed[q][f] + self.pool_cap[c][f])
            if g <= most + EPS:
                return True
        self.over_quota_jobs += 1
        return False

    def admits_without(self, i: int, victims: list[int]) -> list[str | None]:
        """The flavors the quota would admit job i on (in this round) with every victim's GPUs given back."""
        gpus = self.sim.wl.gpus  # type: ignore[union-attr]
        removed: dict[tuple[int, int], float] = {}
        for v in victims:
            key = (self.job_queue[v], self.flavor_of[v])
            removed[key] = removed.get(key, 0.0) + gpus[v]
        q, g = self.job_queue[i], gpus[i]
        c = self.cohort[q]
        out: list[str | None] = []
        for f in self._candidates(i):
            pool = self.pool_used[c][f]
            for (m, ff), r in removed.items():
                if ff == f and self.cohort[m] == c:
                    u, gm = self.usage[m][f], self.guaranteed[m][f]
                    pool -= max(0.0, u - gm) - max(0.0, u - r - gm)
            u = self.usage[q][f] - removed.get((q, f), 0.0)
            limit = self.nominal[q][f] if self.mode == 0 else self.nominal[q][f] + self.blimit[q][f]
            gq = self.guaranteed[q][f]
            if u + g <= limit + EPS and pool + max(0.0, u + g - gq) - max(0.0, u - gq) <= self.pool_cap[c][f] + EPS:
                out.append(None if self.flavors[f] == ANY else self.flavors[f])
        return out

    def charge(self, i: int, flavor: str | None) -> None:
        """Job i took its GPUs out of its queue's quota."""
        f = self._fidx[flavor] if flavor is not None else 0
        q = self.job_queue[i]
        self._add(q, f, self.sim.wl.gpus[i])  # type: ignore[union-attr]
        self.flavor_of[i] = f
        if self.usage[q][f] > self.nominal[q][f] + EPS:  # it borrows: cohort-mates may reclaim now
            for m in self.members[self.cohort[q]]:
                self._dirty[m][0] = True

    def release(self, i: int) -> None:
        """Job i gave its GPUs back."""
        f = self.flavor_of.pop(i)
        q = self.job_queue[i]
        self._add(q, f, -self.sim.wl.gpus[i])  # type: ignore[union-attr]
        self.views[q].running.pop(i, None)
        self._reclaim_failed.clear()
        for d in self._dirty:
            d[0] = d[1] = True

    def _add(self, q: int, f: int, g: float) -> None:
        u = self.usage[q][f]
        gq = self.guaranteed[q][f]
        self.pool_used[self.cohort[q]][f] += (u + g - gq if u + g > gq else 0.0) - (u - gq if u > gq else 0.0)
        self.usage[q][f] = u + g if abs(u + g) > EPS else 0.0
        h = self.held[q] + g
        self.held[q] = h if abs(h) > EPS else 0.0
        if self._single:
            b = self.usage[q][0] - self.nominal[q][0]
            b = b if b > 0.0 else 0.0
        else:
            b = sum(max(0.0, x - n) for x, n in zip(self.usage[q], self.nominal[q], strict=True))
        self.cohort_borrowed[self.cohort[q]] += b - self.borrowed_now[q]
        self.borrowed_now[q] = b

    def headroom(self, q: int) -> float:
        """GPUs queue q could still be admitted in this round (nominal round: what reclaim could give)."""
        if self.mode == 0 and self._single:
            r = self.nominal[q][0] - self.usage[q][0]
            return r if r > 0.0 else 0.0
        room = 0.0
        c = self.cohort[q]
        for f in range(len(self.flavors)):
            u = self.usage[q][f]
            if self.mode == 0:
                room += max(0.0, self.nominal[q][f] - u)
            else:
                free_pool = self.pool_cap[c][f] - self.pool_used[c][f]
                own = max(0.0, self.guaranteed[q][f] - u)
                room += max(0.0, min(self.nominal[q][f] + self.blimit[q][f] - u, own + free_pool))
        return room

    def _can_borrow(self, q: int) -> bool:
        """Whether queue q could now be admitted above its nominal quota on some flavor."""
        c = self.cohort[q]
        for f in range(len(self.flavors)):
            u, n = self.usage[q][f], self.nominal[q][f]
            room = min(
                n + self.blimit[q][f] - u,
                max(0.0, self.guaranteed[q][f] - u) + self.pool_cap[c][f] - self.pool_used[c][f],
            )
            if room > EPS and u + room > n + EPS:
                return True
        return False

    def borrowed(self, q: int) -> float:
        """GPUs queue q holds above its nominal quota."""
        return self.borrowed_now[q]

    # -- reclaim -------------------------------------------------------------------------------------
    def may_reclaim(self, q: int) -> bool:
        """Whether a job of queue q could reclaim now: reclaim is on and another queue of its cohort borrows."""
        return self.spec.reclaim and self.cohort_borrowed[self.cohort[q]] - self.borrowed_now[q] > EPS

    def reclaim(self, i: int, t: float) -> bool:
        """Start job i (within its nominal quota) by preempting borrowers of its cohort, youngest first."""
        sim = self.sim
        assert sim is not None
        q, g = self.job_queue[i], sim.wl.gpus[i]
        c = self.cohort[q]
        if not self.may_reclaim(q) or q in self._reclaim_stopped:
            return False
        cpus, mem = sim.wl.cpus[i], sim.wl.mem[i]
        attempted = False
        for f in self._candidates(i):
            if self.usage[q][f] + g > self.nominal[q][f] + EPS:
                continue
            if not any(m != q and self.usage[m][f] > self.nominal[m][f] + EPS for m in self.members[c]):
                continue  # nobody borrows this flavor
            if any(
                fq == q and ff == f and g >= fg and cpus >= fc and mem >= fm
                for fq, ff, fg, fc, fm in self._reclaim_failed
            ):
                continue
            attempted = True
            victims: list[int] = []
            pool_after = self.pool_used[c][f]
            for m in self.members[c]:
                over = self.usage[m][f] - self.nominal[m][f]
                if m == q or over <= EPS:
                    continue
                took, u, gm = 0.0, self.usage[m][f], self.guaranteed[m][f]
                # a queue's running jobs are kept in start order: newest last
                for j in reversed(self.views[m].running):  # Kueue stops taking once it no longer borrows
                    if took >= over - EPS:
                        break
                    if not self._single and self.flavor_of[j] != f:
                        continue
                    took += sim.wl.gpus[j]
                    victims.append(j)
                pool_after -= max(0.0, u - gm) - max(0.0, u - took - gm)
            if not victims or not self._fits(q, f, g, self.nominal[q][f], pool_after):
                self._reclaim_failed.append((q, f, g, cpus, mem))
                continue
            victims.sort(key=lambda j: -sim.last_start[j])  # youngest first across queues (stable within one)
            before = len(sim.running)
            # Try the shortest prefix that could be enough (GPUs and quota) first: the simulator preempts the
            # fewest victims in order anyway, so when the prefix works the outcome is the same, and its trial
            # frees a few jobs instead of every borrower's.
            p = self._enough(i, q, f, victims)
            ok = False
            for vs in [victims[:p], victims] if p < len(victims) else [victims]:
                sim._trial_failed.clear()  # the trial memo assumes one victim list per pass; reclaim brings its own
                ok = sim.start_preempting(i, t, vs)
                if ok:
                    break
            sim._trial_failed.clear()
            if ok:
                self.reclaims += before + 1 - len(sim.running)
                return True
            self._reclaim_failed.append((q, f, g, cpus, mem))
        if attempted:
            # Like Kueue, which tries preemption for the head of each queue once per cycle: after a job of
            # this queue could not be helped, the queue reclaims nothing more in this pass.
            self._reclaim_stopped.add(q)
        return False

    def _enough(self, i: int, q: int, f: int, victims: list[int]) -> int:
        """The fewest victims (a prefix) whose GPUs and quota could let job i start."""
        sim = self.sim
        assert sim is not None
        g = sim.wl.gpus[i]
        free = sim.total_gpus - sim.allocated
        c = self.cohort[q]
        pool = self.pool_used[c][f]
        took: dict[int, float] = {}
        for k, v in enumerate(victims):
            m, gv = self.job_queue[v], sim.wl.gpus[v]
            u, gm, before = self.usage[m][f], self.guaranteed[m][f], took.get(m, 0.0)
            pool -= max(0.0, u - before - gm) - max(0.0, u - before - gv - gm)
            took[m] = before + gv
            free += gv
            if free >= g - EPS and self._fits(q, f, g, self.nominal[q][f], pool):
                return k + 1
        return len(victims)

    # -- the Scheduler protocol ----------------------------------------------------------------------
    def on_arrive(self, sim: TrainingSim, i: int, t: float) -> None:
        """Job i (re)joined its queue."""
        q = self.job_queue[i]
        v = self.views[q]
        v.queue[i] = None
        self._dirty[q][0] = self._dirty[q][1] = True
        self.scheds[q].on_arrive(v, i, t)  # type: ignore[arg-type]

    def on_start(self, sim: TrainingSim, i: int, t: float) -> list[FollowUp]:
        """Job i started: it moves from its queue's waiting jobs to its running ones."""
        q = self.job_queue[i]
        v = self.views[q]
        del v.queue[i]
        v.running[i] = None
        return self.scheds[q].on_start(v, i, t)  # type: ignore[arg-type]

    def update_prediction(self, sim: TrainingSim, i: int, value: float) -> None:
        """Waiting job i's prediction changed: its queue's scheduler re-ranks it, and the queue is tried again."""
        q = self.job_queue[i]
        self.scheds[q].update_prediction(self.views[q], i, value)  # type: ignore[arg-type]
        self._dirty[q][0] = self._dirty[q][1] = True

    def schedule(self, sim: TrainingSim, t: float) -> None:
        """Two rounds (within nominal, then borrowing) over the queues, oldest waiting head first."""
        submit = sim.wl.submit
        self._reclaim_failed.clear()
        self._reclaim_stopped.clear()
        skip = self.skip_clean
        dirty, idle, views, scheds = self._dirty, self._idle, self.views, self.scheds
        usage, nominal, single = self.usage, self.nominal, self._single
        for mode in (0, 1):
            self.mode = mode
            heads = [(submit[next(iter(v.queue))], q) for q, v in enumerate(views) if v.queue]
            if len(heads) > 1:
                heads.sort()
            for _, q in heads:
                # clean is judged at the queue's turn: a reclaim by a queue earlier in this round re-queues its
                # victims, and their queue must then get its turn in this round as it would without skipping
                if skip and not dirty[q][mode]:
                    continue
                if mode == 0:
                    if not scheds[q].preemptive and (  # preemptive ones may still swap jobs inside their quota
                        usage[q][0] >= nominal[q][0] - EPS
                        if single
                        else all(u >= n - EPS for u, n in zip(usage[q], nominal[q], strict=True))
                    ):
                        continue  # at its nominal quota on every flavor: nothing to admit or reclaim in this round
                elif not self._can_borrow(q):
                    continue  # the borrowing round would admit nothing the nominal round did not
                v = views[q]
                if v.queue:
                    # cleared before the pass: what the pass itself frees (reclaim) marks it again
                    dirty[q][mode] = not idle[q]
                    v.blocked_on_place = False
                    scheds[q].schedule(v, t)  # type: ignore[arg-type]
                    if mode == 0 and skip and single and self._stops[q] and v.blocked_on_place:
                        dirty[q][1] = False  # anything freed later (other queues' reclaims) marks it again
        self.mode = 0

    def report(self) -> dict[str, Any]:
        """Counts for the run summary."""
        return {
            "queues": len(self.names),
            "flavors": self.flavors,
            "jobs_without_queue": self.no_queue_jobs,
            "jobs_over_quota": self.over_quota_jobs,
            "reclaim_preemptions": self.reclaims,
        }
