"""The Scheduler protocol and its registry.

A scheduler decides the order in which queued jobs are tried and, when preemptive, which running jobs
to stop; the simulator owns the resources. A scheduler sees a SchedulingContext (schedulers/context.py): the
queue it orders and exactly the state and calls it may use (`try_start` places with the run's Placer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

from gpufleet.core.registry import PolicyRegistry, PolicySettings
from gpufleet.sim.engine import FollowUp

if TYPE_CHECKING:
    from gpufleet.sim.schedulers.context import SchedulingContext


class Scheduler(Protocol):
    """Orders the queue; called once per scheduling pass with the simulator's state."""

    # A member also declares `Settings`, its pydantic model (core.registry.Policy, checked on registration).
    learned: ClassVar[bool]
    preemptive: bool
    uses_prediction: bool  # whether the run's RuntimePredictor matters (it is not computed otherwise)
    # A pass that started nothing more starts nothing again until a job joins the queue or resources are
    # freed (no clock, no state of its own that moves): the quota model skips such queues' passes.
    idle_until_change: bool
    # A pass ends at the first queued job that does not start (fifo; sjf/qssf with `blocking`): with one GPU
    # type, the quota model need not retry that job in the borrowing round (sim/quota.py).
    stops_at_first_failure: bool
    # Lucid/Helios' per-second countdown (srtf and tiresias under --compat helios): a run lasts what is left
    # plus one second, and a preempted job's restore cost (countdown_overhead) is added to what it has left.
    countdown: bool

    def pass_on_arrival(self, ctx: SchedulingContext, i: int) -> bool:
        """Whether job i joining the queue may let a pass start something (False: nothing can start before
        something else changes, so the simulator does not run one for the arrival)."""
        ...

    def pass_time(self, t: float) -> float:
        """When a pass wanted at t runs (t; the next tick of a loop that schedules on a grid: Lucid's Tiresias)."""
        ...

    def revisit(self, ctx: SchedulingContext, t: float) -> float | None:
        """After a pass at t, when to pass again though nothing arrives or ends (None: only on such events)."""
        ...

    def countdown_overhead(self, gpus: float) -> float:
        """Seconds added to a preempted job's countdown (only read when `countdown`)."""
        ...

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


class BaseScheduler:
    """Defaults shared by the members: nothing to set, no memory of arrivals, no follow-up events, no
    predictions. A member's constructor takes its settings (validated by its `Settings`), then by keyword
    whatever context it needs that is not the policy's to choose."""

    class Settings(PolicySettings):
        """Nothing to set."""

    learned: ClassVar[bool] = False  # schedulers are rules: nothing is fitted
    preemptive = False
    uses_prediction = False
    idle_until_change = False
    stops_at_first_failure = False
    countdown = False

    def __init__(self, settings: PolicySettings | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()

    def on_arrive(self, ctx: SchedulingContext, i: int, t: float) -> None:
        """Nothing to remember by default."""

    def on_start(self, ctx: SchedulingContext, i: int, t: float) -> list[FollowUp]:
        """No follow-up events by default."""
        return []

    def pass_on_arrival(self, ctx: SchedulingContext, i: int) -> bool:
        """Any arrival may start something."""
        return True

    def pass_time(self, t: float) -> float:
        """A pass runs when it is wanted."""
        return t

    def revisit(self, ctx: SchedulingContext, t: float) -> float | None:
        """Passes only when jobs arrive, end or are refreshed."""
        return None

    def countdown_overhead(self, gpus: float) -> float:
        """No countdown."""
        return 0.0

    def update_prediction(self, ctx: SchedulingContext, i: int, value: float) -> None:
        """Schedulers that read predictions at each pass need nothing more than the new value."""
        ctx.wl.pred[i] = value


# Members the Protocol gained after plugins could implement it (the Helios/Lucid loop's, issue #26). A
# scheduler written against the earlier Protocol (a plugin that does not subclass BaseScheduler, like
# examples/gpufleet-example-plugin's ljf) lacks them: it gets BaseScheduler's behaviour for each, which is
# what the simulator did before they existed, so a new simulator feature never breaks an old plugin.
LATER_MEMBERS = ("countdown", "countdown_overhead", "pass_on_arrival", "pass_time", "revisit")


def completed(scheduler: Scheduler) -> Scheduler:
    """`scheduler`, with BaseScheduler's default for each of LATER_MEMBERS it does not define."""
    for name in LATER_MEMBERS:
        if not hasattr(scheduler, name):
            default = getattr(BaseScheduler, name)
            setattr(scheduler, name, default.__get__(scheduler) if callable(default) else default)
    return scheduler


SCHEDULERS: PolicyRegistry[Scheduler] = PolicyRegistry("scheduler", plugins="gpufleet.schedulers", complete=completed)
