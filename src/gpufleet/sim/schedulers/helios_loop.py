"""One pass of the Helios/Lucid simulator's preemptive loop, and when its next pass can differ.

Facts from their published code (Lucid `simulation/policy/{srtf,tiresias}.py`, HeliosArtifact `framework/QSSF
Service/policies/srtf.py`; docs/simulator.md, "Reproducing published results"): walk the active jobs in the
policy's order with the cluster's GPUs as a budget; a job whose GPUs fit what is left is chosen (and takes its
GPUs from the budget), a running job that does not fit is preempted - all of them, whether or not the chosen
waiting jobs can then be placed, in walk order - and only then are the chosen waiting jobs placed, in walk order;
one that cannot be placed waits where it is. A job preempted in this pass was not chosen, so it cannot restart
before the next pass.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpufleet.sim.schedulers.context import SchedulingContext


def loop_pass(ctx: SchedulingContext, order: list[int], t: float) -> bool:
    """One pass over `order` (every active job, walk order); True when it started or preempted a job."""
    gpus, running = ctx.wl.gpus, ctx.running
    room = ctx.total_gpus
    chosen: list[int] = []
    victims: list[int] = []
    for i in order:
        g = gpus[i]
        if g <= room + 1e-9:
            room -= g
            if i not in running:
                chosen.append(i)
        elif i in running:
            victims.append(i)
    for v in victims:
        ctx.preempt(v, t)
    started = False
    for i in chosen:
        started = ctx.try_start(i, t) or started
    return started or bool(victims)


def crossing(waiting: list[float], running: list[float], t: float) -> float | None:
    """The first second after t at which a running job's countdown (`running`, each falling one a second) is
    strictly below a waiting job's (`waiting`, sorted, fixed) that it is not below now: where the walk order of
    an SRTF loop next changes by itself. None when no running job will pass a waiting one."""
    best = math.inf
    for r in running:
        k = bisect.bisect_right(waiting, r) - 1  # the largest waiting value <= r: the next one r passes
        if k >= 0:
            best = min(best, t + math.floor(r - waiting[k]) + 1.0)
    return None if best == math.inf else best
