"""Training-cluster schedulers: the Scheduler protocol, the SCHEDULERS registry and its members."""

from gpufleet.sim.schedulers import fifo, preemptive, priority  # noqa: F401  (registers the members)
from gpufleet.sim.schedulers.base import SCHEDULERS, BaseScheduler, Scheduler
from gpufleet.sim.schedulers.context import SchedulingContext

__all__ = ["SCHEDULERS", "BaseScheduler", "Scheduler", "SchedulingContext"]
