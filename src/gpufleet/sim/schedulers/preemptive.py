"""Preemptive schedulers: `srtf` (shortest predicted remaining time) and `tiresias` (discretized 2D-LAS).

Both rank every active job (running and queued) and keep the best-ranked ones running: walking the
ranking, a job is "chosen" while the chosen GPUs still fit in the cluster. Chosen queued jobs start in rank order; one
that cannot be placed preempts unchosen running jobs, worst rank first, until it fits (a preempted
job keeps its progress and pays the restore overhead when it starts again). Then any queued job that
fits starts, in rank order, so no GPU idles while a job could use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpufleet.sim.engine import FollowUp
from gpufleet.sim.schedulers.base import SCHEDULERS, SchedulerSettings

if TYPE_CHECKING:
    from gpufleet.sim.training import TrainingSim


class _Preemptive:
    preemptive = True

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings

    def rank(self, sim: TrainingSim, i: int, t: float) -> tuple[float, ...]:
        """Smaller runs first."""
        raise NotImplementedError

    def on_arrive(self, sim: TrainingSim, i: int, t: float) -> None:
        """Nothing to remember."""

    def on_start(self, sim: TrainingSim, i: int, t: float) -> list[FollowUp]:
        """No follow-ups."""
        return []

    def schedule(self, sim: TrainingSim, t: float) -> None:
        """Choose by rank; start chosen queued jobs, preempting unchosen running ones (worst rank first)
        only as far as needed; then fill what is left in rank order (work-conserving)."""
        ranks = {i: self.rank(sim, i, t) for i in (*sim.running, *sim.queue)}
        active = sorted(ranks, key=ranks.__getitem__)
        room = sim.total_gpus
        chosen: set[int] = set()
        for i in active:
            g = sim.wl.gpus[i]
            if g <= room + 1e-9:
                chosen.add(i)
                room -= g
        victims = [i for i in reversed(active) if i in sim.running and i not in chosen]
        for i in [i for i in active if i in chosen and i in sim.queue]:
            started = sim.try_start(i, t)
            while not started and victims:
                sim.preempt(victims.pop(0), t)
                started = sim.try_start(i, t)
        for i in active:
            if i in sim.queue and sim.total_gpus - sim.allocated >= sim.wl.gpus[i] - 1e-9:
                sim.try_start(i, t)


@SCHEDULERS.register("srtf")
class ShortestRemainingTimeFirst(_Preemptive):
    """Shortest predicted remaining time first (predicted duration minus work done)."""

    def rank(self, sim: TrainingSim, i: int, t: float) -> tuple[float, ...]:
        """(remaining predicted seconds, submit time, job)."""
        return (max(sim.wl.pred[i] - sim.work_done(i, t), 0.0), sim.wl.submit[i], i)


@SCHEDULERS.register("tiresias")
class Tiresias(_Preemptive):
    """Discretized two-dimensional least-attained-service (Tiresias, NSDI'19, as set up in Lucid):
    two queues split at `tiresias_threshold_gpu_s` attained GPU-seconds; FIFO by submit time within a
    queue; needs no runtime prediction."""

    def rank(self, sim: TrainingSim, i: int, t: float) -> tuple[float, ...]:
        """(queue 0 or 1, submit time, job)."""
        level = 0.0 if sim.attained_now(i, t) < self.settings.tiresias_threshold_gpu_s - 1e-9 else 1.0
        return (level, sim.wl.submit[i], i)

    def on_start(self, sim: TrainingSim, i: int, t: float) -> list[FollowUp]:
        """Wake the scheduler when the job crosses the threshold (its rank changes then)."""
        from gpufleet.sim.training import DEMOTE

        left = self.settings.tiresias_threshold_gpu_s - sim.attained[i]
        g = sim.wl.gpus[i]
        if left <= 0 or g <= 0:
            return []
        return [(t + left / g, DEMOTE, (i, sim.epoch[i]))]
