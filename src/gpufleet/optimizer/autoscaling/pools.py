"""Node-pool scaling for training fleets: which nodes to add or take away, decided from the job queue.

Pure decisions like the serving autoscalers: a PoolState (nodes, their load, the queue and its predicted
waits) in, a PoolPlan out. The training simulator (sim/pools.py) carries plans out: added nodes serve after
a provisioning delay; removed nodes leave at once (their jobs, if any, are preempted and queued again).

- `fixed`: never changes anything (the baseline cluster).
- `cluster-autoscaler`: Kubernetes Cluster Autoscaler-like. Up: when queued jobs fit on no node in service,
  add idle nodes of a fitting type until their GPUs cover those jobs (less what is already provisioning).
  Down, as Cluster Autoscaler's scale-down does it: a node under 50% allocated for `down_after_s` is removed
  only if every job on it fits on the other nodes in service now (CA simulates rescheduling its pods and keeps
  the node when one would stay pending; its jobs are then preempted and placed again, paying the restore
  overhead); empty nodes go in bulk (at most `max_empty_bulk_delete`), a node with work one per decision
  (CA drains non-empty nodes one at a time); and nothing is removed for `down_delay_after_add_s` after a
  scale-up (CA's --scale-down-delay-after-add). Without the drain check, a busy fleet thrashed: nodes with
  work were removed, their jobs fit nowhere, nodes were ordered back (600 synthetic jobs on 8x8: 997 nodes
  added, 1,004 removed, 1,058 preemptions in one replay).
- `predictive` (ours): Up: add nodes for the jobs whose predicted wait (from the running jobs' predicted
  ends) exceeds `target_wait_s` — or that have already waited that long, so runtimes predicted too short
  cannot starve the queue — not for every job that merely cannot start this second. Down: never preempt;
  remove nodes that have been empty `idle_s` while no job waits or is predicted to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import Field

from gpufleet.core.registry import PolicyRegistry, PolicySettings

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
    # per node: every job on it would fit on the other nodes in service now (None: not known, treated as False
    # for a node with work, so nothing is drained blind)
    movable: B | None = None


@dataclass
class PoolPlan:
    """Nodes to provision and nodes to take out of service, with the reason."""

    add: list[int] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)
    reason: str = ""


class PoolScaler(Protocol):
    """Decides the node pool of a training fleet."""

    # A member also declares `Settings`, its pydantic model (core.registry.Policy, checked on registration).
    learned: ClassVar[bool]
    period_s: float  # seconds between decisions

    def decide(self, state: PoolState) -> PoolPlan:
        """The plan at `state.now`."""
        ...


POOL_SCALERS: PolicyRegistry[PoolScaler] = PolicyRegistry("pool scaler", plugins="gpufleet.pool_scalers")


class PoolSettings(PolicySettings):
    """What every pool scaler has: how often it decides."""

    period_s: float = Field(300.0, gt=0, description="seconds between two decisions")


class BasePoolScaler:
    """A rule, not a model (nothing is fitted); the constructor takes its validated settings."""

    Settings: ClassVar[type[PoolSettings]] = PoolSettings
    learned: ClassVar[bool] = False

    def __init__(self, settings: PoolSettings | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()
        self.period_s = self.settings.period_s


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
class Fixed(BasePoolScaler):
    """Every node in service, always."""

    def decide(self, state: PoolState) -> PoolPlan:
        """Nothing to change."""
        return PoolPlan(reason="fixed-size cluster")


class ClusterAutoscalerSettings(PoolSettings):
    """Cluster Autoscaler's scale-down rules (its defaults)."""

    period_s: float = Field(60.0, gt=0, description="seconds between two decisions")
    # (the 50% line itself is the simulator's, which tracks since when each node is under it: sim/pools.py)
    down_after_s: float = Field(600.0, ge=0, description="seconds a node stays under 50% allocated before removal")
    down_delay_after_add_s: float = Field(
        600.0, ge=0, description="no scale-down this long after a scale-up (CA's --scale-down-delay-after-add)"
    )
    max_empty_bulk_delete: int = Field(10, ge=1, description="empty nodes removed at most per decision")


@POOL_SCALERS.register("cluster-autoscaler")
class ClusterAutoscaler(BasePoolScaler):
    """Up for jobs that fit nowhere now; down for nodes under 50% allocated for 10 minutes whose jobs fit
    elsewhere (one node with work per decision, empty ones in bulk), not within 10 minutes of a scale-up."""

    Settings = ClusterAutoscalerSettings
    settings: ClusterAutoscalerSettings

    def __init__(self, settings: ClusterAutoscalerSettings | None = None) -> None:
        super().__init__(settings)
        self.down_after_s = self.settings.down_after_s
        self.last_add = -np.inf

    def decide(self, state: PoolState) -> PoolPlan:
        """Cluster Autoscaler's rules: scale up first; scale down only what can be drained."""
        pending = [j for j in range(len(state.queue_gpus)) if not state.queue_fits_now[j]]
        add = _cover(state, pending)
        if add:
            self.last_add = state.now
            return PoolPlan(add=add, reason=f"{len(pending)} queued jobs fit on no node in service")
        if state.now - self.last_add < self.settings.down_delay_after_add_s:
            return PoolPlan(reason="scale-down waits after a scale-up")
        low = state.active & (state.now - state.low_since >= self.down_after_s)
        empty = low & (state.allocated <= 1e-9)
        remove = [int(n) for n in np.flatnonzero(empty)][: self.settings.max_empty_bulk_delete]
        if remove:
            return PoolPlan(remove=remove, reason=f"{len(remove)} empty nodes under 50% allocated for 10 min")
        movable = state.movable if state.movable is not None else np.zeros(len(state.gpus), dtype=bool)
        drain = np.flatnonzero(low & ~empty & movable)
        if len(drain):  # the least allocated first, as CA prefers the cheapest node to drain
            n = int(min(drain, key=lambda n: (state.allocated[n], n)))
            return PoolPlan(remove=[n], reason="a node under 50% allocated for 10 min; its jobs fit elsewhere")
        return PoolPlan(reason="no change")


class PredictiveNodesSettings(PoolSettings):
    """The wait the predictive scaler grows for, and how long a node may stay empty."""

    period_s: float = Field(60.0, gt=0, description="seconds between two decisions")
    target_wait_s: float = Field(
        600.0, ge=0, description="add nodes for queued jobs predicted to wait (or having waited) longer than this"
    )
    idle_s: float = Field(600.0, ge=0, description="remove a node empty this long while no job waits")


@POOL_SCALERS.register("predictive")
class PredictiveNodes(BasePoolScaler):
    """Up for jobs predicted to wait longer than the target; down only for nodes left empty, never preempting."""

    Settings = PredictiveNodesSettings
    settings: PredictiveNodesSettings

    def __init__(self, settings: PredictiveNodesSettings | None = None) -> None:
        super().__init__(settings)
        self.target_wait_s, self.idle_s = self.settings.target_wait_s, self.settings.idle_s

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
