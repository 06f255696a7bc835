"""`ljf`: largest job first, a scheduler that lives outside gpufleet and joins it through an entry point."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gpufleet.core.registry import PolicySettings


class LargestJobFirst:
    """Largest job first: each pass tries the waiting jobs that ask for the most GPUs first (arrival order
    among equals), so big gangs are not starved by a stream of small jobs.

    It implements gpufleet's Scheduler Protocol (gpufleet.sim.schedulers.base) in full, without subclassing
    anything of gpufleet's: a plugin depends on the contract, not on a base class.
    """

    class Settings(PolicySettings):
        """What a user may choose: `--set scheduler.blocking=true`, or a run config's
        `scheduler: {name: ljf, settings: {blocking: true}}`."""

        blocking: bool = Field(
            False,
            description="stop a pass at the first (largest) job that does not fit, so smaller jobs never"
            " overtake it; default: try the smaller ones behind it",
        )

    learned = False  # a rule: nothing is fitted on data
    preemptive = False  # never stops a running job
    uses_prediction = False  # orders by GPUs asked for, not by predicted run time
    # With no clock and no state of its own, a pass that started nothing starts nothing again until the queue
    # or the free resources change: the simulator may skip such passes.
    idle_until_change = True

    def __init__(self, settings: LargestJobFirst.Settings, **context: Any) -> None:
        # context: what the run decides, not the policy (a seed, ...); ljf needs none of it
        self.settings = settings
        # a pass that ends at the first job that does not start lets the quota model skip a retry
        self.stops_at_first_failure = settings.blocking

    def on_arrive(self, ctx: Any, i: int, t: float) -> None:
        """Nothing to remember: the order is read from the queue at each pass."""

    def on_start(self, ctx: Any, i: int, t: float) -> list[Any]:
        """No follow-up events."""
        return []

    def update_prediction(self, ctx: Any, i: int, value: float) -> None:
        """Predictions are not used for ordering, but the simulator's estimate of job i is kept current."""
        ctx.wl.pred[i] = value

    def schedule(self, ctx: Any, t: float) -> None:
        """One pass: the queue by GPUs asked for, largest first (stable: arrival order among equals)."""
        gpus = ctx.wl.gpus
        for i in sorted(ctx.queue, key=lambda i: -gpus[i]):
            if not ctx.try_start(i, t) and self.settings.blocking:
                return
