"""The Scheduler protocol and its registry.

A scheduler decides the order in which queued jobs are tried and, when preemptive, which running jobs
to stop; the simulator owns the resources. A scheduler sees a SchedulingContext (schedulers/context.py): the
queue it orders and exactly the state and calls it may use (`try_start` places with the run's Placer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from gpufleet.core.registry import Registry
from gpufleet.sim.engine import FollowUp

if TYPE_CHECKING:
    from gpufleet.sim.schedulers.context import SchedulingContext


class SchedulerSettings(BaseModel):
    """Knobs shared by the schedulers (each field is CLI help)."""

    model_config = ConfigDict(extra="forbid")
    tiresias_threshold_gpu_s: float = Field(
        18_000.0, gt=0, description="Tiresias: attained GPU-seconds after which a job drops to the low queue"
    )
    blocking: bool = Field(
        False,
        description="sjf/qssf stop at the first job that does not fit (head-of-line blocking, as the Helios and"
        " Lucid simulators do) instead of trying the next",
    )


class Scheduler(Protocol):
    """Orders the queue; called once per scheduling pass with the simulator's state."""

    preemptive: bool
    uses_prediction: bool  # whether the run's RuntimePredictor matters (it is not computed otherwise)
    # A pass that started nothing more starts nothing again until a job joins the queue or resources are
    # freed (no clock, no state of its own that moves): the quota model skips such queues' passes.
    idle_until_change: bool

    def on_arrive(self, ctx: SchedulingContext, i: int, t: float) -> None:
        """Job i joined the queue at t."""
        ...

    def on_start(self, ctx: SchedulingContext, i: int, t: float) -> list[FollowUp]:
        """Job i started at t; may return follow-up events (Tiresias' demotion time)."""
        ...

    def schedule(self, ctx: SchedulingContext, t: float) -> None:
        """One pass: call ctx.try_start / ctx.start_preempting in this policy's order."""
        ...

    def update_prediction(self, ctx: SchedulingContext, i: int, value: float) -> None:
        """Waiting job i's predicted duration is now `value` (never called during a pass)."""
        ...


SCHEDULERS: Registry[type[Scheduler]] = Registry("scheduler")


class BaseScheduler:
    """Defaults shared by the members: no memory of arrivals, no follow-up events, no predictions."""

    preemptive = False
    uses_prediction = False
    idle_until_change = False
    stops_at_first_failure = False  # a pass ends at the first queued job that does not start

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings

    def on_arrive(self, ctx: SchedulingContext, i: int, t: float) -> None:
        """Nothing to remember by default."""

    def on_start(self, ctx: SchedulingContext, i: int, t: float) -> list[FollowUp]:
        """No follow-up events by default."""
        return []

    def update_prediction(self, ctx: SchedulingContext, i: int, value: float) -> None:
        """Schedulers that read predictions at each pass need nothing more than the new value."""
        ctx.wl.pred[i] = value


def make_scheduler(name: str, settings: SchedulerSettings | None = None) -> Scheduler:
    """A fresh scheduler (no state shared between runs)."""
    return SCHEDULERS.get(name)(settings or SchedulerSettings())  # type: ignore[call-arg]
