"""The FleetState the autoscaler tests decide on: 10 slots per replica, 2 s service, 40 s cold start."""

from __future__ import annotations

import numpy as np

from gpufleet.optimizer.autoscaling import FleetState


def state(
    conc: float | list[float] | np.ndarray, *, now: float = 600.0, ready: int = 4, starting: int = 0, n: int = 600
) -> FleetState:
    """`conc` concurrent requests per second (a number: `n` seconds of it), one arrival per second."""
    c = np.full(n, conc, dtype=float) if np.isscalar(conc) else np.asarray(conc, dtype=float)
    return FleetState(
        now=now,
        ready=ready,
        starting=starting,
        slots_per_replica=10,
        service_s=2.0,
        cold_start_s=40.0,
        concurrency=c,
        arrivals=np.full(len(c), 1.0),
    )
