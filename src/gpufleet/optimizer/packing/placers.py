"""The Placer protocol, its registry and the basic placers (first/best/worst-fit, consolidate).

A placer only scores nodes: lower is better, over all nodes at once (numpy, no per-node Python loop).
Feasibility (GPU, fraction, CPU, memory, GPU type) and gang splitting are decided once, in `place`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import polars as pl

from gpufleet.core.registry import Registry
from gpufleet.optimizer.packing.view import F64, ClusterView, Request


class Placer(Protocol):
    """Scores candidate nodes for one request; `place` picks the feasible node with the lowest score."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """One score per node (only feasible nodes are looked at); ties go to the lowest node index."""
        ...


PLACERS: Registry[type[Placer]] = Registry("placer")


class BasePlacer:
    """Every placer takes a seed (only `random` uses it) so the registry can build any member the same way."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit_workload(self, pods: pl.DataFrame) -> None:
        """Learn from the workload to come (JOBS-like frame); placers that model it (fgd) override this."""

    def choose_slot(self, view: ClusterView, node: int, req: Request) -> int | None:
        """The GPU inside `node` for a fractional request; None lets `place` best-fit it."""
        return None


def make_placer(name: str, seed: int = 0) -> Placer:
    """A fresh placer by registry name."""
    return PLACERS.get(name)(seed=seed)  # type: ignore[call-arg]


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
    dominant resource (GPU, CPU or memory share), so idle nodes stay idle and can be powered down."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Empty-node penalty plus the negated dominant allocated share after placement."""
        gpu_share = 1.0 - (view.free_sum - max(req.gpus, 0.0)) / np.maximum(view.gpu_total, 1)
        cpu_share = 1.0 - (view.cpu_free - req.cpus) / np.maximum(view.cpu_total, 1e-9)
        mem_share = 1.0 - (view.mem_free - req.mem) / np.maximum(view.mem_total, 1e-9)
        used = (view.free_sum < view.gpu_total - 1e-9) | (view.cpu_free < view.cpu_total - 1e-9)
        dominant = np.maximum(np.maximum(gpu_share, cpu_share), mem_share)
        return np.where(used, 0.0, 10.0) - dominant


@PLACERS.register("dot-product")
class DotProduct(BasePlacer):
    """Tetris-style alignment: the node whose free (GPU, CPU, memory) vector, each normalized by the node's
    capacity, has the largest dot product with the request's normalized demand."""

    def score(self, view: ClusterView, req: Request) -> F64:
        """Negative dot product of normalized demand and normalized free capacity."""
        g_cap = np.maximum(view.gpu_total, 1).astype(float)
        c_cap = np.maximum(view.cpu_total, 1e-9)
        m_cap = np.maximum(view.mem_total, 1e-9)
        dot = (max(req.gpus, 0.0) / g_cap) * (view.free_sum / g_cap) + (req.cpus / c_cap) * (view.cpu_free / c_cap)
        return -(dot + (req.mem / m_cap) * (view.mem_free / m_cap))


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

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._rng = np.random.default_rng(seed)

    def score(self, view: ClusterView, req: Request) -> F64:
        """Random scores."""
        return self._rng.random(view.n)
