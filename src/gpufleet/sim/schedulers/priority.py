"""Non-preemptive priority schedulers: `sjf` (shortest predicted duration) and `qssf` (Helios: smallest
predicted GPU-time). Jobs are tried in priority order; one that does not fit is skipped, not waited on
(with `blocking`, the pass stops there instead, as in the Helios/Lucid simulators)."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from gpufleet.sim.schedulers.base import SCHEDULERS, BaseScheduler, SchedulerSettings

if TYPE_CHECKING:
    from gpufleet.sim.training import TrainingSim


class _Priority(BaseScheduler):
    uses_prediction = True
    idle_until_change = True  # priorities change only at arrival and when a prediction is refreshed

    def __init__(self, settings: SchedulerSettings) -> None:
        super().__init__(settings)
        self.stops_at_first_failure = settings.blocking  # with `blocking`, a pass ends at the first miss
        self._order: list[tuple[float, float, int]] = []  # (priority, submit, job) kept sorted

    def key(self, sim: TrainingSim, i: int) -> float:
        """Smaller runs first."""
        raise NotImplementedError

    def on_arrive(self, sim: TrainingSim, i: int, t: float) -> None:
        """Insert the job at its place in the priority order."""
        bisect.insort(self._order, (self.key(sim, i), sim.wl.submit[i], i))

    def update_prediction(self, sim: TrainingSim, i: int, value: float) -> None:
        """Move waiting job i to its place under the new prediction."""
        old = (self.key(sim, i), sim.wl.submit[i], i)
        pos = bisect.bisect_left(self._order, old)
        if pos < len(self._order) and self._order[pos] == old:
            del self._order[pos]
            sim.wl.pred[i] = value
            bisect.insort(self._order, (self.key(sim, i), sim.wl.submit[i], i))
        else:  # not waiting here (it started in this instant): only the value changes
            sim.wl.pred[i] = value

    def schedule(self, sim: TrainingSim, t: float) -> None:
        """Try every queued job in priority order (one that does not fit is skipped)."""
        started: list[int] = []
        gpus = sim.wl.gpus
        free = sim.total_gpus - sim.allocated  # read once and after each start (a property under quotas)
        blocking = self.settings.blocking
        for pos, (_, _, i) in enumerate(self._order):
            g = gpus[i]
            if g > free + 1e-9:  # cannot fit: skip without a call (or stop, when blocking)
                if blocking or (free < 1e-9 and g > 0):
                    break
                continue
            if sim.try_start(i, t):
                started.append(pos)
                free = sim.total_gpus - sim.allocated
            elif blocking:
                break
        for pos in reversed(started):
            del self._order[pos]


@SCHEDULERS.register("sjf")
class ShortestJobFirst(_Priority):
    """Shortest predicted duration first (`--predictor oracle` gives true SJF)."""

    def key(self, sim: TrainingSim, i: int) -> float:
        """Predicted duration."""
        return sim.wl.pred[i]


@SCHEDULERS.register("qssf")
class QuasiShortestServiceFirst(_Priority):
    """Helios QSSF: smallest predicted GPU-time (GPUs x predicted duration) first."""

    def key(self, sim: TrainingSim, i: int) -> float:
        """Predicted GPU-seconds."""
        return sim.wl.pred[i] * max(sim.wl.gpus[i], 0.0)
