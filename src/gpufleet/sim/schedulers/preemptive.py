"""Preemptive schedulers: `srtf` (shortest predicted remaining time) and `tiresias` (discretized 2D-LAS).

Both rank every active job (running and queued) and keep the best-ranked ones running: walking the
ranking, a job is "chosen" while the chosen GPUs still fit in the cluster. Chosen queued jobs start in rank order; one
that cannot be placed preempts unchosen running jobs, worst rank first, until it fits, and none at all
if it would not fit even then (a preempted job keeps its progress and pays the restore overhead when
it starts again). Then any queued job that
fits starts, in rank order, so no GPU idles while a job could use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from gpufleet.sim.engine import FollowUp
from gpufleet.sim.schedulers.base import SCHEDULERS, BaseScheduler

if TYPE_CHECKING:
    from gpufleet.sim.schedulers.context import SchedulingContext


class _Preemptive(BaseScheduler):
    preemptive = True
    uses_prediction = True

    def ranks(self, ctx: SchedulingContext, ids: list[int], t: float) -> dict[int, tuple[float, ...]]:
        """Rank of each active job; smaller runs first (one call per pass: this is the hot loop)."""
        raise NotImplementedError

    def schedule(self, ctx: SchedulingContext, t: float) -> None:
        """Choose by rank; start chosen queued jobs, preempting unchosen running ones (worst rank first)
        only as far as needed; then fill what is left in rank order (work-conserving)."""
        ranks = self.ranks(ctx, [*ctx.running, *ctx.queue], t)
        active = sorted(ranks, key=ranks.__getitem__)
        room = ctx.total_gpus
        chosen: set[int] = set()
        for i in active:
            g = ctx.wl.gpus[i]
            if g <= room + 1e-9:
                chosen.add(i)
                room -= g
        victims = [i for i in reversed(active) if i in ctx.running and i not in chosen]
        for i in [i for i in active if i in chosen and i in ctx.queue]:
            if ctx.start_preempting(i, t, victims):
                victims = [v for v in victims if v in ctx.running]
        free, gpus, queue = ctx.total_gpus - ctx.allocated, ctx.wl.gpus, ctx.queue
        for i in active:  # free only changes when a job starts (read once: a property under quotas)
            if i in queue and free >= gpus[i] - 1e-9 and ctx.try_start(i, t):
                free = ctx.total_gpus - ctx.allocated


@SCHEDULERS.register("srtf")
class ShortestRemainingTimeFirst(_Preemptive):
    """Shortest predicted remaining time first (predicted duration minus work done)."""

    def ranks(self, ctx: SchedulingContext, ids: list[int], t: float) -> dict[int, tuple[float, ...]]:
        """(remaining predicted seconds, submit time, job)."""
        pred, sub, done = ctx.wl.pred, ctx.wl.submit, ctx.work_done
        return {i: (max(pred[i] - done(i, t), 0.0), sub[i], i) for i in ids}


@SCHEDULERS.register("tiresias")
class Tiresias(_Preemptive):
    """Discretized two-dimensional least-attained-service (Tiresias, NSDI'19, as set up in Lucid):
    two queues split at `threshold_gpu_s` attained GPU-seconds; FIFO by submit time within a queue; needs
    no runtime prediction."""

    class Settings(BaseScheduler.Settings):
        """Where the two queues split."""

        threshold_gpu_s: float = Field(
            18_000.0, gt=0, description="attained GPU-seconds after which a job drops to the low-priority queue"
        )

    settings: Settings
    uses_prediction = False

    def ranks(self, ctx: SchedulingContext, ids: list[int], t: float) -> dict[int, tuple[float, ...]]:
        """(queue 0 or 1, submit time, job)."""
        thr = self.settings.threshold_gpu_s - 1e-9
        att, last, gpus, sub, running = ctx.attained, ctx.last_start, ctx.wl.gpus, ctx.wl.submit, ctx.running
        return {i: (float(att[i] + ((t - last[i]) * gpus[i] if i in running else 0.0) >= thr), sub[i], i) for i in ids}

    def on_start(self, ctx: SchedulingContext, i: int, t: float) -> list[FollowUp]:
        """Wake the scheduler when the job crosses the threshold (its rank changes then)."""
        from gpufleet.sim.training import DEMOTE

        left = self.settings.threshold_gpu_s - ctx.attained[i]
        g = ctx.wl.gpus[i]
        if left <= 0 or g <= 0:
            return []
        return [(t + left / g, DEMOTE, (i, ctx.epoch[i]))]
