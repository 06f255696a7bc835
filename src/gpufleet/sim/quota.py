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
The accounting (quotas, cohorts, usage, which borrowers a reclaim takes) is the QuotaBook's
(sim/quota_book.py), which knows no simulator; this module's QuotaDispatcher runs the rounds and carries the
book's decisions out on the simulator. Each queue's scheduler sees a QueueContext: a declared
SchedulingContext (schedulers/context.py), not the simulator.
Not modelled: priorities (and Kueue's `withinClusterQueue` / `borrowWithinCohort` preemption by
priority), hierarchical cohorts, CPU/memory quotas (only GPUs are limited by quota).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gpufleet.core.errors import GpufleetError, RegistryError, SettingsError
from gpufleet.sim.engine import FollowUp
from gpufleet.sim.quota_book import EPS, NOMINAL, QuotaBook
from gpufleet.sim.quota_spec import QuotaSpec
from gpufleet.sim.schedulers import SCHEDULERS, Scheduler
from gpufleet.sim.schedulers.base import completed

if TYPE_CHECKING:
    from gpufleet.sim.training import TrainingSim
    from gpufleet.sim.workload import Workload


class QueueContext:
    """What one queue's scheduler sees (a SchedulingContext): its own waiting and running jobs, its quota as
    the capacity, and a try_start that goes through the quota (and reclaims); the job arrays and the starting
    calls are the simulator's."""

    def __init__(self, sim: TrainingSim, quota: QuotaDispatcher, q: int) -> None:
        self._sim, self._quota, self._book, self._q = sim, quota, quota.book, q
        self.queue: dict[int, None] = {}
        self.running = quota.book.running[q]  # the book keeps it in start order (reclaim takes the newest)
        self.blocked_on_place = False  # the last try of this pass failed with the quota's consent
        self.wl: Workload = sim.wl
        self.attained, self.last_start, self.epoch = sim.attained, sim.last_start, sim.epoch
        self.expected_end, self.work_done, self.start_preempting, self.gpus_short, self.preempt = (
            sim.expected_end,
            sim.work_done,
            sim.start_preempting,
            sim.gpus_short,
            sim.preempt,
        )

    @property
    def allocated(self) -> float:
        """GPUs this queue's jobs hold."""
        return self._book.held[self._q]

    @property
    def total_gpus(self) -> float:
        """What this queue could hold now: its usage plus its quota headroom (an upper bound: placement
        and reclaim decide the rest)."""
        return self.allocated + self._book.headroom(self._q, self._quota.mode)

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
        return None if quota.mode == NOMINAL and self._book.may_reclaim(self._q) else self._sim.room_grew

    def try_start(self, i: int, t: float) -> bool:
        """Start through the quota; in the nominal round, reclaim lent quota when that is what it takes."""
        quota, book, q = self._quota, self._book, self._q
        quota.refused = False
        if self._sim.try_start(i, t):
            self.blocked_on_place = False
            return True
        # the quota let it in (or the free GPUs alone were too few): only freed resources can help it
        self.blocked_on_place = not quota.refused
        # reclaim only in the nominal round, when reclaim is on and another queue of the cohort borrows
        # (may_reclaim, inlined: a failed start is the hottest path under the skipping schedulers)
        if (
            quota.mode == NOMINAL
            and book.reclaim_on
            and book.cohort_borrowed[book.cohort[q]] - book.borrowed_now[q] > EPS
            and quota.reclaim(i, t)
        ):
            self.blocked_on_place = False
            return True
        return False


def queue_schedulers(spec: QuotaSpec, name: str, settings: Mapping[str, Any], **context: Any) -> list[Scheduler]:
    """One fresh scheduler per queue, in the spec's order: the queue's own `scheduler:` (a name or {name,
    settings}) or the run's `name`. Each takes those of the run scheduler's `settings` that its own model
    declares (`blocking` reaches a queue's sjf under a run's qssf; a fifo queue has none to take), then the
    queue's own settings over them; `context` goes to every one."""
    out: list[Scheduler] = []
    for queue, qs in spec.queues.items():
        own = qs.scheduler.name if qs.scheduler else name
        fields = SCHEDULERS.settings_model(own).model_fields
        given = {k: v for k, v in settings.items() if k in fields} | (qs.scheduler.settings if qs.scheduler else {})
        try:
            out.append(SCHEDULERS.build(own, given, **context))
        except (RegistryError, SettingsError) as e:  # a bad name or setting in the file: say which queue
            raise type(e)(f"queues.{queue}.scheduler: {e}") from None
    return out


class QuotaDispatcher:
    """The simulator's scheduler and quota gate at once: runs the rounds over the queues, one scheduler per
    queue, with the QuotaBook deciding admission and reclaim."""

    def __init__(self, spec: QuotaSpec, schedulers: list[Scheduler], *, skip_clean: bool = True) -> None:
        """`schedulers`: one per queue, in the spec's order (queue_schedulers). `skip_clean=False` runs every
        queue's pass even when it cannot change anything (see _dirty): the same replay, slower (the exactness
        test compares the two)."""
        if len(schedulers) != len(spec.queues):
            raise ValueError(f"{len(spec.queues)} queues need as many schedulers, got {len(schedulers)}")
        self.skip_clean = skip_clean
        self.book = book = QuotaBook(spec)
        self.reclaims = 0  # jobs preempted to give lent quota back
        # Reclaims that failed in this pass, by (queue, flavor, shape). Until something is preempted, a pass
        # only starts jobs (less free, more usage; no queue starts borrowing in the nominal round), so the
        # same or a larger shape fails again: skipped exactly, like the simulator's trial memo.
        # (queue, flavor, GPUs, CPUs, memory, RDMA, pool) of reclaims that failed in this pass
        self._reclaim_failed: list[tuple[int, int, float, float, float, float, str | None]] = []
        self._reclaim_stopped: set[int] = set()  # queues done reclaiming in this pass
        self.mode = NOMINAL
        self.scheds = [completed(s) for s in schedulers]  # older plugins get the later members' defaults
        self.preemptive = any(s.preemptive for s in self.scheds)
        self.idle_until_change = False  # as the simulator's scheduler: its queues decide for themselves
        # Per queue and round: whether its last pass could have an outcome different from "nothing". A
        # queue whose scheduler is idle_until_change and whose last pass in that round ran to the end is
        # skipped until a job joins it, any job gives GPUs back (room and quota can only have shrunk
        # otherwise), or - for the nominal round, whose reclaim takes from borrowers - a cohort-mate starts
        # borrowing. Exact: a skipped pass would have started nothing and changed nothing (the test replays
        # with skipping off).
        self._dirty = [[True, True] for _ in book.names]
        self._idle = [s.idle_until_change for s in self.scheds]
        # Schedulers whose pass ends at the first job that does not start (fifo; sjf/qssf with `blocking`).
        # With one flavor, if that job failed with the quota's consent (placement), the borrowing round
        # would try the same job on the same nodes first and fail again: it is skipped (exact).
        self._stops = [s.idle_until_change and s.stops_at_first_failure for s in self.scheds]
        self.refused = False  # set by admit: the last job tried was refused by the quota
        self.uses_prediction = any(s.uses_prediction for s in self.scheds)
        if any(s.countdown for s in self.scheds):
            raise GpufleetError(
                "srtf/tiresias as the Helios/Lucid loop runs them (--compat helios) know no quotas:"
                " replay them pooled or partitioned"
            )
        self.countdown = False
        self.views: list[QueueContext] = []
        self.sim: TrainingSim | None = None

    def bind(self, sim: TrainingSim) -> None:
        """Attach to the simulator (after it is built: the queues' contexts read its state)."""
        self.sim = sim
        self.book.assign(sim.wl)
        self.views = [QueueContext(sim, self, q) for q in range(len(self.book.names))]

    # -- the simulator's Quota gate (sim/training.py) -------------------------------------------------
    def admit(self, i: int) -> tuple[str | None, ...]:
        """Flavors job i may start on now (the nominal round admits only within nominal quota)."""
        flavors = self.book.admit(i, self.mode)
        if not flavors:
            self.refused = True
        return flavors

    def can_ever(self, i: int) -> bool:
        """Whether the job has a queue and a flavor whose quota could ever hold it."""
        return self.book.can_ever(i)

    def admits_without(self, i: int, victims: list[int]) -> list[str | None]:
        """The flavors the quota would admit job i on (in this round) with every victim's GPUs given back."""
        return self.book.admits_without(i, victims, self.mode)

    def charge(self, i: int, flavor: str | None) -> None:
        """Job i took its GPUs out of its queue's quota."""
        book = self.book
        if book.charge(i, flavor):  # it borrows: cohort-mates may reclaim now
            for m in book.members[book.cohort[book.job_queue[i]]]:
                self._dirty[m][0] = True

    def release(self, i: int) -> None:
        """Job i gave its GPUs back: every queue may start something again."""
        self.book.release(i)
        self._reclaim_failed.clear()
        for d in self._dirty:
            d[0] = d[1] = True

    # -- reclaim -------------------------------------------------------------------------------------
    def reclaim(self, i: int, t: float) -> bool:
        """Start job i (within its nominal quota) by preempting borrowers of its cohort, youngest first."""
        sim, book = self.sim, self.book
        assert sim is not None
        q, g = book.job_queue[i], book.gpus[i]
        if not book.may_reclaim(q) or q in self._reclaim_stopped:
            return False
        cpus, mem, rdma, pool = sim.wl.cpus[i], sim.wl.mem[i], sim.wl.rdma[i], sim.wl.pool[i]
        attempted = False
        for f in book.candidates(i):
            if not book.reclaimable(q, f, g):
                continue  # beyond its nominal quota, or nobody borrows this flavor
            if any(
                fq == q and ff == f and g >= fg and cpus >= fc and mem >= fm and rdma >= fr and pool == fp
                for fq, ff, fg, fc, fm, fr, fp in self._reclaim_failed
            ):
                continue
            attempted = True
            plan = book.plan_reclaim(i, f, sim.last_start, sim.total_gpus - sim.allocated)
            if plan is None:
                self._reclaim_failed.append((q, f, g, cpus, mem, rdma, pool))
                continue
            victims, p = plan.victims, plan.enough
            before = len(sim.running)
            # Try the shortest prefix that could be enough (GPUs and quota) first: the simulator preempts the
            # fewest victims in order anyway, so when the prefix works the outcome is the same, and its trial
            # frees a few jobs instead of every borrower's.
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
            self._reclaim_failed.append((q, f, g, cpus, mem, rdma, pool))
        if attempted:
            # Like Kueue, which tries preemption for the head of each queue once per cycle: after a job of
            # this queue could not be helped, the queue reclaims nothing more in this pass.
            self._reclaim_stopped.add(q)
        return False

    # -- the simulator's scheduler -------------------------------------------------------------------
    def on_arrive(self, sim: TrainingSim, i: int, t: float) -> None:
        """Job i (re)joined its queue."""
        q = self.book.job_queue[i]
        v = self.views[q]
        v.queue[i] = None
        self._dirty[q][0] = self._dirty[q][1] = True
        self.scheds[q].on_arrive(v, i, t)

    def on_start(self, sim: TrainingSim, i: int, t: float) -> list[FollowUp]:
        """Job i started: it leaves its queue's waiting jobs (the book has counted it running)."""
        q = self.book.job_queue[i]
        v = self.views[q]
        del v.queue[i]
        return self.scheds[q].on_start(v, i, t)

    def update_prediction(self, sim: TrainingSim, i: int, value: float) -> None:
        """Waiting job i's prediction changed: its queue's scheduler re-ranks it, and the queue is tried again."""
        q = self.book.job_queue[i]
        self.scheds[q].update_prediction(self.views[q], i, value)
        self._dirty[q][0] = self._dirty[q][1] = True

    def pass_on_arrival(self, sim: TrainingSim, i: int) -> bool:
        """Any arrival may start something (its queue decides)."""
        return True

    def pass_time(self, t: float) -> float:
        """A pass runs when it is wanted."""
        return t

    def revisit(self, sim: TrainingSim, t: float) -> float | None:
        """The earliest pass a queue's scheduler asks for though nothing happens (qssf's Helios/Lucid loop)."""
        asked = [x for s, v in zip(self.scheds, self.views, strict=True) if (x := s.revisit(v, t)) is not None]
        return min(asked, default=None)

    def countdown_overhead(self, gpus: float) -> float:
        """No countdown under quotas."""
        return 0.0

    def schedule(self, sim: TrainingSim, t: float) -> None:
        """Two rounds (within nominal, then borrowing) over the queues, oldest waiting head first."""
        submit = sim.wl.submit
        self._reclaim_failed.clear()
        self._reclaim_stopped.clear()
        skip = self.skip_clean
        dirty, idle, views, scheds, book = self._dirty, self._idle, self.views, self.scheds, self.book
        single = book.single
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
                    # preemptive schedulers may still swap jobs inside their quota
                    if not scheds[q].preemptive and book.at_nominal(q):
                        continue  # at its nominal quota on every flavor: nothing to admit or reclaim in this round
                elif not book.can_borrow(q):
                    continue  # the borrowing round would admit nothing the nominal round did not
                v = views[q]
                if v.queue:
                    # cleared before the pass: what the pass itself frees (reclaim) marks it again
                    dirty[q][mode] = not idle[q]
                    v.blocked_on_place = False
                    scheds[q].schedule(v, t)
                    if mode == 0 and skip and single and self._stops[q] and v.blocked_on_place:
                        dirty[q][1] = False  # anything freed later (other queues' reclaims) marks it again
        self.mode = NOMINAL

    def report(self) -> dict[str, Any]:
        """Counts for the run summary."""
        book = self.book
        return {
            "queues": len(book.names),
            "flavors": book.flavors,
            "jobs_without_queue": book.no_queue_jobs,
            "jobs_over_quota": book.over_quota_jobs,
            "reclaim_preemptions": self.reclaims,
        }
