"""Non-preemptive priority schedulers: `sjf` (shortest predicted duration) and `qssf` (Helios: smallest
predicted GPU-time). Jobs are tried in priority order; one that does not fit is skipped, not waited on
(with `blocking`, the pass stops there instead, as in the Helios/Lucid simulators)."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from pydantic import Field

from gpufleet.sim.schedulers.base import SCHEDULERS, BaseScheduler

if TYPE_CHECKING:
    from gpufleet.sim.schedulers.context import SchedulingContext


class _Priority(BaseScheduler):
    class Settings(BaseScheduler.Settings):
        """Whether a job that does not fit holds back the ones behind it."""

        blocking: bool = Field(
            False,
            description="stop the pass at the first job that does not fit (head-of-line blocking, as the Helios and"
            " Lucid simulators do) instead of trying the next",
        )

    settings: Settings
    uses_prediction = True
    idle_until_change = True  # priorities change only at arrival and when a prediction is refreshed

    def __init__(self, settings: Settings | None = None, *, skip_known_failures: bool = True) -> None:
        """`skip_known_failures=False` (context, not a setting) tries every job at every pass: the same
        schedule, slower; the exactness tests and the benchmark compare the two."""
        super().__init__(settings)
        self.skip_known_failures = skip_known_failures
        self.stops_at_first_failure = self.settings.blocking  # with `blocking`, a pass ends at the first miss
        self._order: list[tuple[float, float, int]] = []  # (priority, tie-break, job) kept sorted
        self._gpuless = 0  # jobs in _order that ask for no GPU (CPU pods): they may start with every GPU taken
        # Per lane (ctx.lane: the pooled pass, or a quota's nominal and borrowing rounds): the jobs that joined
        # since the lane's last pass, and ctx.retry_token() as it was through that pass (None: not known).
        self._new: dict[int, list[int]] = {}
        self._seen: dict[int, object | None] = {}

    def key(self, ctx: SchedulingContext, i: int) -> float:
        """Smaller runs first."""
        raise NotImplementedError

    def tiebreak(self, ctx: SchedulingContext, i: int) -> float:
        """Equal keys: the earlier submission first (then replay order, the job's index)."""
        return ctx.wl.submit[i]

    def entry(self, ctx: SchedulingContext, i: int) -> tuple[float, float, int]:
        """Job i's place in the order."""
        return self.key(ctx, i), self.tiebreak(ctx, i), i

    def on_arrive(self, ctx: SchedulingContext, i: int, t: float) -> None:
        """Insert the job at its place in the priority order."""
        bisect.insort(self._order, self.entry(ctx, i))
        self._gpuless += ctx.wl.gpus[i] <= 0
        for new in self._new.values():
            new.append(i)

    def update_prediction(self, ctx: SchedulingContext, i: int, value: float) -> None:
        """Move waiting job i to its place under the new prediction."""
        old = self.entry(ctx, i)
        pos = bisect.bisect_left(self._order, old)
        if pos < len(self._order) and self._order[pos] == old:
            del self._order[pos]
            ctx.wl.pred[i] = value
            bisect.insort(self._order, self.entry(ctx, i))
        else:  # not waiting here (it started in this instant): only the value changes
            ctx.wl.pred[i] = value

    def schedule(self, ctx: SchedulingContext, t: float) -> None:
        """Try every queued job in priority order (one that does not fit is skipped)."""
        lane = ctx.lane
        new = self._new.get(lane)
        self._new[lane] = []
        token = ctx.retry_token()
        if (
            self.skip_known_failures
            and not self.settings.blocking
            and new is not None
            and token is not None
            and self._seen.get(lane) == token
        ):
            # Nothing that could let a failed job start happened since this lane's last pass, which tried (or
            # knew the failure of) every job then waiting: only the jobs that joined since can start. (Not when
            # blocking, where a new job ahead of the blocked head changes where the pass stops.)
            self._try_new(ctx, new, t)
        else:
            self._full_pass(ctx, t, whole_class=token is not None)
        # kept only when nothing in the pass itself could have helped a job it had already failed (a reclaim)
        self._seen[lane] = token if token is not None and ctx.retry_token() == token else None

    def _try_new(self, ctx: SchedulingContext, new: list[int], t: float) -> None:
        order, gpus = self._order, ctx.wl.gpus
        for key in sorted({self.entry(ctx, i) for i in new}):
            i = key[2]
            if i not in ctx.queue:
                continue  # started or gone since it joined
            if gpus[i] <= ctx.total_gpus - ctx.allocated + 1e-9 and ctx.try_start(i, t):
                del order[bisect.bisect_left(order, key)]
                self._gpuless -= gpus[i] <= 0

    def _full_pass(self, ctx: SchedulingContext, t: float, whole_class: bool) -> None:
        started: list[int] = []
        wl = ctx.wl
        gpus, cpus, mem, gtype, rdma, pool = wl.gpus, wl.cpus, wl.mem, wl.gpu_type, wl.rdma, wl.pool
        free = ctx.total_gpus - ctx.allocated  # read once and after each start (a property under quotas)
        blocking = self.settings.blocking
        # What failed in this pass, per (GPUs, GPU type, pool): the (CPUs, memory, RDMA) of each failed job. A
        # pass only starts jobs, so room (and a queue's quota) only shrinks, and a failed try changes nothing (a
        # reclaim that fails is undone): a later job with the same GPUs, type and pool and at least those CPUs,
        # memory and RDMA fails too (same chunks, each asking at least as much). With a long queue (100k synthetic
        # jobs: hundreds of 8- and 32-GPU gangs waiting) this spares re-trying each of them at every pass. Exact:
        # the test replays with it off (tests/sim/test_priority_skips.py).
        # A class is None (all of it fails) when no node has its GPUs at all: found once, at its first failure.
        # Only with `whole_class` (no retry token means a reclaim may run: there a job with fewer CPUs than the one
        # that failed may still reclaim - the reclaim memo only covers jobs asking at least as much - and reclaim
        # frees GPUs).
        failed: dict[tuple[float, str | None, str | None], list[tuple[float, float, float]] | None] = {}
        memo = self.skip_known_failures
        whole_class = memo and whole_class
        for pos, (_, _, i) in enumerate(self._order):
            g = gpus[i]
            if g > free + 1e-9:  # cannot fit: skip without a call (or stop, when blocking)
                if blocking or (free < 1e-9 and g > 0 and not self._gpuless):  # nothing left that could start
                    break
                continue
            if memo:
                cls = (g, gtype[i], pool[i])
                seen = failed.get(cls, ())
                if seen is None or any(c <= cpus[i] and m <= mem[i] and r <= rdma[i] for c, m, r in seen):
                    continue  # (never reached when blocking: the pass ended at the first failure)
            if ctx.try_start(i, t):
                started.append(pos)
                free = ctx.total_gpus - ctx.allocated
            elif blocking:
                break
            elif memo:
                if cls not in failed:
                    failed[cls] = None if whole_class and ctx.gpus_short(i) else []
                bucket = failed[cls]
                if bucket is not None:
                    bucket.append((cpus[i], mem[i], rdma[i]))
        for pos in reversed(started):
            self._gpuless -= gpus[self._order[pos][2]] <= 0
            del self._order[pos]


@SCHEDULERS.register("sjf")
class ShortestJobFirst(_Priority):
    """Shortest predicted duration first (`--predictor oracle` gives true SJF)."""

    def key(self, ctx: SchedulingContext, i: int) -> float:
        """Predicted duration."""
        return ctx.wl.pred[i]


@SCHEDULERS.register("qssf")
class QuasiShortestServiceFirst(_Priority):
    """Helios QSSF: smallest predicted GPU-time (GPUs x predicted duration) first."""

    class Settings(_Priority.Settings):
        """Blocking, and whose loop."""

        helios_loop: bool = Field(
            False,
            description="order as the Helios/Lucid loop does (set by --compat helios): in a second when every"
            " waiting job arrived in that second, by GPUs (their estimator is asked only once a job has waited);"
            " otherwise by GPU-time, then GPUs",
        )

    settings: Settings

    def __init__(self, settings: Settings | None = None, *, skip_known_failures: bool = True) -> None:
        """As sjf; under `helios_loop` a pass can differ from the last without news (see revisit)."""
        super().__init__(settings, skip_known_failures=skip_known_failures)
        self.idle_until_change = not self.settings.helios_loop
        self._fresh = False  # the last pass ordered a queue of jobs that had all just arrived

    def key(self, ctx: SchedulingContext, i: int) -> float:
        """Predicted GPU-seconds: the job's given priority (Workload.qssf_priority, their estimator's per-job
        figure) or else its predicted duration, times its GPUs."""
        wl = ctx.wl
        return (wl.qssf_priority[i] if wl.qssf_priority else wl.pred[i]) * max(wl.gpus[i], 0.0)

    def tiebreak(self, ctx: SchedulingContext, i: int) -> float:
        """Helios/Lucid sort the queue by GPUs and then by priority, both stable: equal priorities by GPUs."""
        return ctx.wl.gpus[i] if self.settings.helios_loop else ctx.wl.submit[i]

    def schedule(self, ctx: SchedulingContext, t: float) -> None:
        """As sjf; under `helios_loop`, a queue of jobs that all arrived at t goes by GPUs and stops at the
        first that does not start (their loop assigns priorities only while an older job waits)."""
        submit = ctx.wl.submit
        self._fresh = self.settings.helios_loop and all(submit[i] >= t for i in ctx.queue)
        if not self._fresh:
            super().schedule(ctx, t)
            return
        gpus = ctx.wl.gpus
        self._seen.clear()  # this pass tried jobs out of the order the shortcuts remember
        for i in sorted(ctx.queue, key=lambda i: (gpus[i], i)):
            if not ctx.try_start(i, t):
                break
            del self._order[bisect.bisect_left(self._order, self.entry(ctx, i))]
            self._gpuless -= gpus[i] <= 0

    def revisit(self, ctx: SchedulingContext, t: float) -> float | None:
        """After a pass in GPU order with jobs left, the next second (now ordered by priority)."""
        return t + 1.0 if self._fresh and ctx.queue else None
