"""First in, first out: strict `fifo` (head-of-line blocking) and EASY `fifo-backfill`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpufleet.sim.schedulers.base import SCHEDULERS, BaseScheduler

if TYPE_CHECKING:
    from gpufleet.sim.schedulers.context import SchedulingContext


@SCHEDULERS.register("fifo")
class Fifo(BaseScheduler):
    """Start jobs in arrival order; the first job that does not fit blocks everyone behind it."""

    idle_until_change = True
    stops_at_first_failure = True

    def __init__(self, settings: BaseScheduler.Settings | None = None) -> None:
        super().__init__(settings)
        self._stuck: object | None = None  # ctx.retry_token() when the last pass ended at a head that failed

    def schedule(self, ctx: SchedulingContext, t: float) -> None:
        """Start from the head until one does not fit."""
        queue = ctx.queue
        while queue:
            if not ctx.try_start(next(iter(queue)), t):
                self._stuck = ctx.retry_token()
                return
        self._stuck = None

    def pass_on_arrival(self, ctx: SchedulingContext, i: int) -> bool:
        """A job joining behind a head that failed, with no room given back since, cannot start: it waits
        behind that head (which nothing but returned room lets start)."""
        return self._stuck is None or ctx.retry_token() != self._stuck


@SCHEDULERS.register("fifo-backfill")
class FifoBackfill(BaseScheduler):
    """EASY backfilling: FIFO, but when the head is blocked it gets a reservation at the earliest time
    enough GPUs free up (by the predictor's estimates of the running jobs); later jobs may start now if
    they are predicted to end before that time or use only GPUs the head will not need then.

    The reservation counts GPUs cluster-wide (not per node), as EASY does for processors.
    """

    uses_prediction = True

    def schedule(self, ctx: SchedulingContext, t: float) -> None:
        """Start from the head; then backfill around the head's reservation."""
        queue = list(ctx.queue)
        k = 0
        while k < len(queue) and ctx.try_start(queue[k], t):
            k += 1
        if k >= len(queue):
            return
        head = queue[k]
        need = ctx.wl.gpus[head]
        free = ctx.total_gpus - ctx.allocated
        shadow, extra = float("inf"), 0.0
        for end, i in sorted((ctx.expected_end(i, t), i) for i in ctx.running):
            free += ctx.wl.gpus[i]
            if free >= need - 1e-9:
                shadow, extra = end, free - need
                break
        for j in queue[k + 1 :]:
            if ctx.total_gpus - ctx.allocated < 1e-9:
                return
            g = ctx.wl.gpus[j]
            ends_in_time = t + ctx.wl.pred[j] <= shadow
            if (ends_in_time or g <= extra + 1e-9) and ctx.try_start(j, t) and not ends_in_time:
                extra -= g
