"""SchedulingContext: exactly what a scheduler may read and call during a pass.

The pooled simulator (TrainingSim) is one; under quotas each queue's scheduler gets a QueueContext
(sim/quota.py) whose queue, running jobs and capacity are its queue's, and whose try_start goes through the
quota. Nothing else of the simulator is reachable from a scheduler.
"""

from __future__ import annotations

from typing import Protocol

from gpufleet.sim.workload import Workload


class SchedulingContext(Protocol):
    """The state a scheduler reads (jobs, its queue, capacity) and the calls that start jobs."""

    @property
    def wl(self) -> Workload:
        """The jobs (a scheduler may write `wl.pred[i]` only in update_prediction)."""
        ...

    @property
    def queue(self) -> dict[int, None]:
        """Waiting jobs, in (re)arrival order."""
        ...

    @property
    def running(self) -> dict[int, None]:
        """Running jobs, in start order."""
        ...

    @property
    def total_gpus(self) -> float:
        """GPUs this scheduler may fill (the cluster, or a queue's usage plus its quota headroom)."""
        ...

    @property
    def allocated(self) -> float:
        """GPUs its running jobs hold."""
        ...

    @property
    def lane(self) -> int:
        """Which of the scheduler's passes this is (under quotas: 0 nominal round, 1 borrowing round)."""
        ...

    @property
    def attained(self) -> list[float]:
        """GPU-seconds of service each job has received (up to its last start or stop)."""
        ...

    @property
    def last_start(self) -> list[float]:
        """When each job last started."""
        ...

    @property
    def epoch(self) -> list[int]:
        """Per job, a count that changes at each start and stop (tags follow-up events)."""
        ...

    def retry_token(self) -> object | None:
        """Changes whenever a job that failed to start might start now; None when that is not known."""
        ...

    def try_start(self, i: int, t: float) -> bool:
        """Place and start waiting job i now if it fits; False (and no change) otherwise."""
        ...

    def start_preempting(self, i: int, t: float, victims: list[int]) -> bool:
        """Start waiting job i by preempting as few of `victims` (in order) as it needs; none if that fails."""
        ...

    def preempt(self, i: int, t: float) -> None:
        """Stop running job i now and queue it again (the Helios/Lucid loop preempts every job it did not choose)."""
        ...

    def gpus_short(self, i: int) -> bool:
        """True when no node has the GPUs job i needs (until room grows); False when unsure."""
        ...

    def work_done(self, i: int, t: float) -> float:
        """Seconds of work (at speed 1.0) job i has completed up to t."""
        ...

    def expected_end(self, i: int, t: float) -> float:
        """When running job i is expected to end, by the predictor (never before t)."""
        ...
