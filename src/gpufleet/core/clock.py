"""Clocks: policies never read the time themselves; the simulator and the live hook inject one."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Seconds since the Unix epoch (UTC) for wall clocks, since the run's start for simulated ones."""

    def now(self) -> float:
        """The current time in seconds."""
        ...


class WallClock:
    """The real time."""

    def now(self) -> float:
        """Wall-clock seconds since the Unix epoch."""
        return time.time()


class SimClock:
    """A clock the simulator advances; it refuses to go backwards, which catches event-order bugs."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        """The simulated time in seconds."""
        return self._t

    def advance_to(self, t: float) -> None:
        """Move the clock to `t`; moving backwards is a bug in the caller and raises."""
        if t < self._t:
            raise ValueError(f"simulated clock cannot go back from {self._t} to {t}")
        self._t = float(t)
