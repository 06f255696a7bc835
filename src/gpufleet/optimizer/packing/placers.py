"""The Placer protocol, its registry and the basic placers (first/best/worst-fit, consolidate).

A placer only scores nodes: lower is better, over all nodes at once (numpy, no per-node Python loop).
Feasibility (GPU, fraction, CPU, memory, RDMA, GPU type, node pool) and gang splitting are decided once, in
`place`, so no placer can put a pod outside its pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol, cast

import numpy as np
import polars as pl

from gpufleet.core.registry import PolicyRegistry, PolicySettings
from gpufleet.optimizer.packing.view import F64, ClusterView, Request

if TYPE_CHECKING:
    from gpufleet.optimizer.packing.place import Placement


class Placer(Protocol):
    """Scores candidate nodes for one request; `place` picks the feasible node with the lowest score.
    BasePlacer gives every member but `score` a default."""

    # A member also declares `Settings`, its pydantic model (core.registry.Policy, checked on registration).
    learned: ClassVar[bool]

    def score(self, view: ClusterView, req: Request) -> F64:
        """One score per node (only feasible nodes are looked at); ties go to the lowest node index."""
        ...

    def fit_workload(self, pods: pl.DataFrame) -> None:
        """Learn from the workload to come (JOBS-like frame), when the caller knows it (fgd uses it)."""
        ...

    def choose_slot(self, view: ClusterView, node: int, req: Request) -> int | None:
        """The GPU inside `node` for a fractional request; None lets `place` best-fit it."""
        ...

    def gang(self, view: ClusterView, req: Request, size: int) -> Placement | None:
        """Where a job wider than any node goes, in chunks of `size` GPUs on different nodes (all or none)."""
        ...


PLACERS: PolicyRegistry[Placer] = PolicyRegistry("placer", plugins="gpufleet.placers")


class BasePlacer:
    """Defaults of the Placer protocol: nothing to set, nothing to learn, `place`'s own GPU choice and gang
    split. The constructor takes the settings, then the run's `seed` (context: the run's, not the policy's;
    only `random` draws from it)."""

    class Settings(PolicySettings):
        """Nothing to set."""

    # A rule over the cluster's state; fgd reads the workload's shapes when it is given them (fit_workload) or
    # as it sees them, but nothing is fitted before it can decide.
    learned: ClassVar[bool] = False

    def __init__(self, settings: PolicySettings | None = None, *, seed: int = 0) -> None:
        self.settings = settings if settings is not None else self.Settings()
        self.seed = seed

    def fit_workload(self, pods: pl.DataFrame) -> None:
        """Nothing to learn by default (fgd overrides this)."""

    def choose_slot(self, view: ClusterView, node: int, req: Request) -> int | None:
        """No preference: `place` best-fits the request inside the node."""
        return None

    def gang(self, view: ClusterView, req: Request, size: int) -> Placement | None:
        """Chunk by chunk, each on the best-scoring feasible node not yet used (helios-consolidate has its own)."""
        from gpufleet.optimizer.packing.place import split_gang  # place builds on this module

        return split_gang(view, req, cast(Placer, self), size)  # a member is a Placer: it has `score`


@PLACERS.register("first-fit")
class FirstFit(BasePlacer):
    """The first node (in inventory order) that fits."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Node index."""
        return np.arange(view.n, dtype=np.float64)


@PLACERS.register("best-fit")
class BestFit(BasePlacer):
    """The node left with the least free GPU capacity (packs GPUs tightly, keeps whole nodes free)."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Free GPU capacity after placement; CPU-only requests use free CPU share instead."""
        if req.gpus <= 0:
            return view.cpu_free / np.maximum(view.cpu_total, 1.0)
        return view.free_sum - req.gpus


@PLACERS.register("worst-fit")
class WorstFit(BasePlacer):
    """The node left with the most free GPU capacity (spreads load)."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Negative free GPU capacity after placement."""
        if req.gpus <= 0:
            return -view.cpu_free / np.maximum(view.cpu_total, 1.0)
        return -(view.free_sum - req.gpus)


@PLACERS.register("consolidate")
class Consolidate(BasePlacer):
    """Fewest nodes: never open an empty node while a used one fits; among used ones, the fullest by its
    dominant resource (GPU, CPU, memory or RDMA share), so idle nodes stay idle and can be powered down."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Empty-node penalty plus the negated dominant allocated share after placement."""
        gpu_share = 1.0 - (view.free_sum - max(req.gpus, 0.0)) / np.maximum(view.gpu_total, 1)
        cpu_share = 1.0 - (view.cpu_free - req.cpus) / np.maximum(view.cpu_total, 1e-9)
        mem_share = 1.0 - (view.mem_free - req.mem) / np.maximum(view.mem_total, 1e-9)
        used = (view.free_sum < view.gpu_total - 1e-9) | (view.cpu_free < view.cpu_total - 1e-9)
        dominant = np.maximum(np.maximum(gpu_share, cpu_share), mem_share)
        if view.rdma_limited:
            dominant = np.maximum(dominant, 1.0 - (view.rdma_free - req.rdma) / np.maximum(view.rdma_total, 1e-9))
        return np.where(used, 0.0, 10.0) - dominant


@PLACERS.register("dot-product")
class DotProduct(BasePlacer):
    """Tetris-style alignment: the node whose free (GPU, CPU, memory, RDMA) vector, each normalized by the node's
    capacity, has the largest dot product with the request's normalized demand."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Negative dot product of normalized demand and normalized free capacity."""
        g_cap = np.maximum(view.gpu_total, 1).astype(float)
        c_cap = np.maximum(view.cpu_total, 1e-9)
        m_cap = np.maximum(view.mem_total, 1e-9)
        dot = (max(req.gpus, 0.0) / g_cap) * (view.free_sum / g_cap) + (req.cpus / c_cap) * (view.cpu_free / c_cap)
        dot = dot + (req.mem / m_cap) * (view.mem_free / m_cap)
        if req.rdma > 0 and view.rdma_limited:
            r_cap = np.maximum(view.rdma_total, 1e-9)
            dot = dot + (req.rdma / r_cap) * (view.rdma_free / r_cap)
        return -dot


@PLACERS.register("gpu-packing")
class GpuPacking(BasePlacer):
    """FGD's GpuPacking baseline: a partly used GPU that still fits a fractional request first, then a node
    with some GPUs in use, then an idle node; best fit (least free GPU capacity) within each tier."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Tier (0, 1, 2) plus the free capacity after placement as a fraction of a tier."""
        busy = view.free_sum < view.gpu_total - 1e-9
        tier = np.where(busy, 1.0, 2.0)
        if req.fraction:
            tier = np.where(view.shared_max >= req.fraction - 1e-9, 0.0, tier)
        rest = (view.free_sum - max(req.gpus, 0.0)) / (np.maximum(view.gpu_total, 1) + 1.0)
        return tier + rest


@PLACERS.register("random")
class RandomPlacer(BasePlacer):
    """A uniformly random feasible node (seeded: the same seed gives the same choices)."""

    def __init__(self, settings: PolicySettings | None = None, *, seed: int = 0) -> None:
        super().__init__(settings, seed=seed)
        self._rng = np.random.default_rng(seed)

    def score(self, view: ClusterView, req: Request) -> F64:
        """Random scores."""
        return self._rng.random(view.n)
