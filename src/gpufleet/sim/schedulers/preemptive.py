"""Preemptive schedulers: `srtf` (shortest predicted remaining time) and `tiresias` (discretized 2D-LAS).

Both rank every active job (running and queued) and keep the best-ranked ones running: walking the
ranking, a job is "chosen" while the chosen GPUs still fit in the cluster. Chosen queued jobs start in rank order; one
that cannot be placed preempts unchosen running jobs, worst rank first, until it fits, and none at all
if it would not fit even then (a preempted job keeps its progress and pays the restore overhead when
it starts again). Then any queued job that
fits starts, in rank order, so no GPU idles while a job could use it.

With the setting `helios_loop` (set by `--compat helios`) they follow the Helios/Lucid trace simulator's loop
instead (schedulers/helios_loop.py, docs/simulator.md "Reproducing published results").
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from gpufleet.sim.engine import FollowUp
from gpufleet.sim.schedulers.base import SCHEDULERS, BaseScheduler
from gpufleet.sim.schedulers.helios_loop import crossing, loop_pass

if TYPE_CHECKING:
    from gpufleet.sim.schedulers.context import SchedulingContext


class _Preemptive(BaseScheduler):
    class Settings(BaseScheduler.Settings):
        """Whose loop decides the passes."""

        helios_loop: bool = Field(
            False,
            description="schedule as the Helios/Lucid simulator's per-second loop does (set by --compat helios):"
            " every job it does not choose is preempted, chosen jobs that cannot be placed just wait, a run lasts"
            " one second more than what is left, a preempted job adds its restore cost to what is left",
        )

    settings: Settings
    preemptive = True
    uses_prediction = True
    interval = 1.0  # seconds between the loop's passes (helios_loop)

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.countdown = self.settings.helios_loop
        self._changed = False  # the last loop pass started or preempted a job

    def ranks(self, ctx: SchedulingContext, ids: list[int], t: float) -> dict[int, tuple[float, ...]]:
        """Rank of each active job; smaller runs first (one call per pass: this is the hot loop)."""
        raise NotImplementedError

    def loop_order(self, ctx: SchedulingContext, t: float) -> list[int]:
        """Active jobs in the order the Helios/Lucid loop walks them."""
        raise NotImplementedError

    def schedule(self, ctx: SchedulingContext, t: float) -> None:
        """Choose by rank; start chosen queued jobs, preempting unchosen running ones (worst rank first)
        only as far as needed; then fill what is left in rank order (work-conserving)."""
        if self.countdown:
            self._changed = loop_pass(ctx, self.loop_order(ctx, t), t)
            return
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

    def pass_time(self, t: float) -> float:
        """The loop's next tick at or after t (its passes run at multiples of `interval` on the trace's clock)."""
        if not self.countdown:
            return t
        return math.ceil(t / self.interval - 1e-9) * self.interval

    def countdown_overhead(self, gpus: float) -> float:
        """Lucid's restore cost (policy.py `ckpt_overhead`: 40 s up to 8 GPUs, else 60 s)."""
        return 40.0 if gpus <= 8 else 60.0


@SCHEDULERS.register("srtf")
class ShortestRemainingTimeFirst(_Preemptive):
    """Shortest predicted remaining time first (predicted duration minus work done)."""

    class Settings(_Preemptive.Settings):
        """Whose loop, and whose restore costs under it."""

        overheads: Literal["lucid", "helios"] = Field(
            "lucid",
            description="restore cost added at each preemption under helios_loop: Lucid's (40 s up to 8 GPUs, else"
            " 60 s) or the HeliosArtifact srtf's (7 s for 1 GPU, 30 s up to 8, else 60 s)",
        )

    settings: Settings

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        # Under the loop, the waiting jobs kept sorted by (what is left, 0, when they joined, job): what is left
        # does not change while a job waits, and the walk and `revisit` read them at every pass
        self._waiting: list[tuple[float, int, int, int]] = []
        self._entry: dict[int, tuple[float, int, int, int]] = {}
        self._joined = 0
        self._falling: dict[int, tuple[float, float]] = {}  # running job: (what is left at time 0, speed)

    def ranks(self, ctx: SchedulingContext, ids: list[int], t: float) -> dict[int, tuple[float, ...]]:
        """(remaining predicted seconds, submit time, job)."""
        pred, sub, done = ctx.wl.pred, ctx.wl.submit, ctx.work_done
        return {i: (max(pred[i] - done(i, t), 0.0), sub[i], i) for i in ids}

    def on_arrive(self, ctx: SchedulingContext, i: int, t: float) -> None:
        """Under the loop: file the job among the waiting by what it has left (restore cost included)."""
        if self.countdown:
            self._joined += 1
            entry = self._entry[i] = (ctx.wl.pred[i] - ctx.work_done(i, t), 0, self._joined, i)
            bisect.insort(self._waiting, entry)

    def on_start(self, ctx: SchedulingContext, i: int, t: float) -> list[FollowUp]:
        """Under the loop: it waits no more; what it has left falls from now on at its speed."""
        if self.countdown:
            del self._waiting[bisect.bisect_left(self._waiting, self._entry.pop(i))]
            left = ctx.wl.pred[i] - ctx.work_done(i, t)
            speed = left - (ctx.wl.pred[i] - ctx.work_done(i, t + 1.0))  # work done in a second of this run
            self._falling[i] = (left + t * speed, speed)
        return []

    def update_prediction(self, ctx: SchedulingContext, i: int, value: float) -> None:
        """A waiting job's new prediction moves it among the waiting."""
        entry = self._entry.get(i)
        if entry is not None:
            del self._waiting[bisect.bisect_left(self._waiting, entry)]
            left = entry[0] + value - ctx.wl.pred[i]
            self._entry[i] = entry = (left, 0, entry[2], i)
            bisect.insort(self._waiting, entry)
        ctx.wl.pred[i] = value

    def loop_order(self, ctx: SchedulingContext, t: float) -> list[int]:
        """By what is left (restore costs included), waiting jobs first on ties, each list in its own order
        (Lucid sorts `que_list + run_list` by `remain`, a stable sort)."""
        falling = self._falling
        running = sorted((falling[i][0] - t * falling[i][1], 1, k, i) for k, i in enumerate(ctx.running))
        keyed: list[tuple[float, int, int, int]] = self._waiting + running
        keyed.sort()  # two sorted runs: a merge
        return [k[3] for k in keyed]

    def revisit(self, ctx: SchedulingContext, t: float) -> float | None:
        """Next second after a pass that changed something; otherwise the first second at which the loop's order
        changes without an event: a running job's countdown drops below a waiting job's (until then every pass
        would walk the same order over the same free GPUs and do nothing)."""
        if not self.countdown:
            return None
        if self._changed:
            return t + 1.0
        falling = self._falling
        return crossing([e[0] for e in self._waiting], [falling[i][0] - t * falling[i][1] for i in ctx.running], t)

    def countdown_overhead(self, gpus: float) -> float:
        """Lucid's restore cost, or HeliosArtifact's srtf (policies/policy.py `ckpt_overhead`)."""
        if self.settings.overheads == "helios":
            return 7.0 if gpus <= 1 else 30.0 if gpus <= 8 else 60.0
        return super().countdown_overhead(gpus)


@SCHEDULERS.register("tiresias")
class Tiresias(_Preemptive):
    """Discretized two-dimensional least-attained-service (Tiresias, NSDI'19, as set up in Lucid):
    two queues split at `threshold_gpu_s` attained GPU-seconds; FIFO by submit time within a queue; needs
    no runtime prediction."""

    class Settings(_Preemptive.Settings):
        """Where the two queues split, and whose loop."""

        threshold_gpu_s: float = Field(
            18_000.0, gt=0, description="attained GPU-seconds after which a job drops to the low-priority queue"
        )

    settings: Settings
    uses_prediction = False
    interval = 60.0  # Lucid schedules Tiresias when its clock is a multiple of 60 s ("as Pollux does")

    def ranks(self, ctx: SchedulingContext, ids: list[int], t: float) -> dict[int, tuple[float, ...]]:
        """(queue 0 or 1, submit time, job)."""
        thr = self.settings.threshold_gpu_s - 1e-9
        att, last, gpus, sub, running = ctx.attained, ctx.last_start, ctx.wl.gpus, ctx.wl.submit, ctx.running
        return {i: (float(att[i] + ((t - last[i]) * gpus[i] if i in running else 0.0) >= thr), sub[i], i) for i in ids}

    def loop_order(self, ctx: SchedulingContext, t: float) -> list[int]:
        """Lucid: `run_list + que_list`, split into the queue above the threshold (attained GPU-seconds strictly
        greater) and the one below, each sorted by submit time (stable), the high queue first."""
        thr = self.settings.threshold_gpu_s
        att, last, gpus, sub = ctx.attained, ctx.last_start, ctx.wl.gpus, ctx.wl.submit
        keyed = [(att[i] + (t - last[i]) * gpus[i] > thr, sub[i], 0, k, i) for k, i in enumerate(ctx.running)]
        keyed += [(att[i] > thr, sub[i], 1, k, i) for k, i in enumerate(ctx.queue)]
        keyed.sort()
        return [k[4] for k in keyed]

    def revisit(self, ctx: SchedulingContext, t: float) -> float | None:
        """The next tick after a pass that changed something (lists reordered, room taken or freed); otherwise
        only arrivals, ends and demotions (DEMOTE events) change what a pass would do."""
        return t + self.interval if self.countdown and self._changed else None

    def on_start(self, ctx: SchedulingContext, i: int, t: float) -> list[FollowUp]:
        """Wake the scheduler when the job crosses the threshold (its rank changes then)."""
        from gpufleet.sim.training import DEMOTE

        left = self.settings.threshold_gpu_s - ctx.attained[i]
        g = ctx.wl.gpus[i]
        if left < 0 or g <= 0 or (left == 0 and not self.countdown):
            return []
        if self.countdown:  # Lucid adds the GPUs each second: the first second with strictly more than the threshold
            return [(t + math.floor(left / g) + 1.0, DEMOTE, (i, ctx.epoch[i]))]
        return [(t + left / g, DEMOTE, (i, ctx.epoch[i]))]
