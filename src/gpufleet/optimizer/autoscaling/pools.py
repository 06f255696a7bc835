"""Node-pool scaling for training fleets: which nodes to add or take away, decided from the job queue.

Pure decisions like the serving autoscalers: a PoolState (nodes, their load, the queue and its predicted
waits) in, a PoolPlan out. The training simulator (sim/pools.py) carries plans out: added nodes serve after
a provisioning delay; removed nodes leave at once (their jobs, if any, are preempted and queued again).

- `fixed`: never changes anything (the baseline cluster).
- `cluster-autoscaler`: Kubernetes Cluster Autoscaler-like. Up: when queued jobs fit on no node in service,
  add idle nodes of a fitting type until their GPUs cover those jobs (less what is already provisioning).
  Down: a node under 50% allocated for 10 minutes is removed, its jobs preempted (CA evicts pods).
- `predictive` (ours): Up: add nodes for the jobs whose predicted wait (from the running jobs' predicted
  ends) exceeds `target_wait_s` — or that have already waited that long, so runtimes predicted too short
  cannot starve the queue — not for every job that merely cannot start this second. Down: never preempt;
  remove nodes that have been empty `idle_s` while no job waits or is predicted to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gpufleet.core.registry import Registry

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PoolState:
    """The training fleet at decision time (per node arrays, per queued job arrays)."""

    now: float
    gpu_type: list[str | None]
    gpus: I64
    active: B  # in service
    provisioning: B  # ordered, not serving yet
    allocated: F64  # GPUs allocated per node
    low_since: F64  # since when each node has been under 50% allocated (inf: it is not)
    empty_since: F64  # since when each node has been empty (inf: it is not)
    queue_gpus: F64
    queue_types: list[set[str] | None]  # allowed GPU types per queued job (None: any)
    queue_fits_now: B  # fits on a node in service right now
    queue_predicted_wait: F64  # seconds until it is predicted to start on the nodes in service
    queue_waited: F64 | None = None  # seconds each queued job has waited so far


@dataclass
class PoolPlan:
    """Nodes to provision and nodes to take out of service, with the reason."""

    add: list[int] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)
    reason: str = ""


class PoolScaler(Protocol):
    """Decides the node pool of a training fleet."""

    period_s: float

    def decide(self, state: PoolState) -> PoolPlan:
        """The plan at `state.now`."""
        ...


POOL_SCALERS: Registry[type[PoolScaler]] = Registry("pool scaler")


def make_pool_scaler(name: str, **settings: float) -> PoolScaler:
    """A fresh pool scaler by registry name."""
    cls = POOL_SCALERS.get(name)
    obj = cls()
    for k, v in settings.items():
        if not hasattr(obj, k):
            raise ValueError(f"{name} has no setting {k!r}")
        setattr(obj, k, v)
    return obj


def _cover(state: PoolState, jobs: list[int]) -> list[int]:
    """Idle, unordered nodes that cover the GPUs of `jobs` per allowed type, beyond what is provisioning."""
    spare = ~state.active & ~state.provisioning
    on_order = float(state.gpus[state.provisioning].sum())
    add: list[int] = []
    taken = np.zeros(len(state.gpus), dtype=bool)
    for j in sorted(jobs, key=lambda j: -state.queue_gpus[j]):
        g = float(state.queue_gpus[j])
        if on_order >= g:  # already ordered capacity is spoken for first
            on_order -= g
            continue
        need, on_order = g - on_order, 0.0
        allowed = state.queue_types[j]
        cand = [n for n in np.flatnonzero(spare & ~taken) if allowed is None or (state.gpu_type[n] or "") in allowed]
        # largest nodes first: a gang wants whole nodes, and fewer nodes boot faster than many
        cand.sort(key=lambda n: (-state.gpus[n], n))
        for n in cand:
            if need <= 1e-9:
                break
            taken[n] = True
            add.append(int(n))
            need -= float(state.gpus[n])
        on_order = max(0.0, -need)  # what the last node brought beyond this job serves the next ones
    return add


@POOL_SCALERS.register("fixed")
class Fixed:
    """Every node in service, always."""

    period_s = 300.0

    def decide(self, state: PoolState) -> PoolPlan:
        """Nothing to change."""
        return PoolPlan(reason="fixed-size cluster")


@POOL_SCALERS.register("cluster-autoscaler")
class ClusterAutoscaler:
    """Up for jobs that fit nowhere now; down for nodes under 50% allocated for 10 minutes (preempting)."""

    period_s = 60.0
    low_util = 0.5
    down_after_s = 600.0

    def decide(self, state: PoolState) -> PoolPlan:
        """Cluster Autoscaler's two rules."""
        pending = [j for j in range(len(state.queue_gpus)) if not state.queue_fits_now[j]]
        add = _cover(state, pending)
        if add:
            return PoolPlan(add=add, reason=f"{len(pending)} queued jobs fit on no node in service")
        low = state.active & (state.now - state.low_since >= self.down_after_s)
        remove = [int(n) for n in np.flatnonzero(low)]
        if remove:
            return PoolPlan(remove=remove, reason=f"{len(remove)} nodes under 50% allocated for 10 min")
        return PoolPlan(reason="no change")


@POOL_SCALERS.register("predictive")
class PredictiveNodes:
    """Up for jobs predicted to wait longer than the target; down only for nodes left empty, never preempting."""

    period_s = 60.0
    target_wait_s = 600.0
    idle_s = 600.0

    def decide(self, state: PoolState) -> PoolPlan:
        """Predicted waits decide growth; emptiness decides shrinking."""
        # late: predicted to wait too long, or (when predictions run short) already waited too long
        waited = state.queue_waited if state.queue_waited is not None else np.zeros(len(state.queue_gpus))
        late = [
            j
            for j in range(len(state.queue_gpus))
            if state.queue_predicted_wait[j] > self.target_wait_s or waited[j] > self.target_wait_s
        ]
        add = _cover(state, late)
        if add:
            return PoolPlan(
                add=add, reason=f"{len(late)} queued jobs predicted to wait over {self.target_wait_s:.0f} s"
            )
        if (state.queue_predicted_wait > 0).any() or (waited > 0).any():
            return PoolPlan(reason="queued jobs will wait: keep every node")
        idle = state.active & (state.now - state.empty_since >= self.idle_s)
        remove = [int(n) for n in np.flatnonzero(idle)]
        if remove:
            return PoolPlan(remove=remove, reason=f"{len(remove)} nodes empty for {self.idle_s:.0f} s")
        return PoolPlan(reason="no change")
