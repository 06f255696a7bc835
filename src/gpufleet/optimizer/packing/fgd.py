"""FGD: Fragmentation Gradient Descent ("Beware of Fragmentation", Weng et al., USENIX ATC'23).

A node's fragmentation, measured against the workload's distribution of pod shapes M, is the expected
number of its free GPUs that a pod drawn from M could not use:

    F_n(M) = sum_m p_m * F_n(m)
    F_n(m) = the free GPU share on GPUs with less room than m's per-GPU share   if m fits on n
           = all of n's free GPU share                                          if m does not fit
             (too few GPUs with room, too few CPUs or memory, or the wrong GPU model)

FGD places a pod where F grows least (F_after - F_before), and for a fractional pod also on the GPU
inside the node where it grows least. Only GPU-using shapes make up M: a CPU-only pod can use no GPU,
so its term is the same on every node and cannot change a choice. Shapes ignore memory, as in the
authors' simulator.

Speed: F of a node changes only when the node does, so deltas are cached per (request shape, node)
and recomputed, vectorized, only for nodes whose `version` moved since.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from pydantic import Field

from gpufleet.optimizer.packing.placers import PLACERS, BasePlacer
from gpufleet.optimizer.packing.view import EPS, F64, I64, B, ClusterView, Request


@dataclass(frozen=True)
class Shape:
    """One pod shape of the workload and its popularity (weights of a distribution sum to 1)."""

    gpus: float  # GPUs asked for: a fraction below 1, else a whole number
    cpus: float
    gpu_type: str | None  # allowed GPU models 'A|B'; None = any
    weight: float
    pool: str | None = None  # the node pool its pods ask for; None = any


def workload_shapes(pods: pl.DataFrame, coverage: float = 1.0, step: int = 10) -> list[Shape]:
    """The distribution of GPU-using pod shapes in `pods`.

    `coverage` < 1 keeps only the most popular shapes, `step` at a time, until they hold that share of
    pods, then renormalizes: the authors' simulator uses 0.6 with steps of 10 ("typical pods")."""
    gpu = pods.filter(pl.col("num_gpus") > 0)
    if gpu.height == 0:
        return []
    spec = pl.col("gpu_type") if "gpu_type" in gpu.columns else pl.lit(None, dtype=pl.String)
    pool = pl.col("pool") if "pool" in gpu.columns else pl.lit(None, dtype=pl.String)
    counts = (
        gpu.select(
            pl.col("num_gpus").cast(pl.Float64).alias("gpus"),
            pl.col("num_cpus").cast(pl.Float64).fill_null(0.0).alias("cpus"),
            spec.alias("gpu_type"),
            pool.alias("pool"),
        )
        .group_by("gpus", "cpus", "gpu_type", "pool")
        .len()
        # most popular first; ties in a fixed order so the kept set is deterministic
        .sort(
            ["len", "gpus", "cpus", "gpu_type", "pool"],
            descending=[True, False, False, False, False],
            nulls_last=True,
        )
    )
    n = counts["len"].to_numpy().astype(float)
    keep = len(n)
    if coverage < 1.0:
        keep = 0
        while keep < len(n) and n[:keep].sum() < coverage * n.sum():
            keep = min(keep + step, len(n))
    kept = counts.head(keep)
    w = n[:keep] / n[:keep].sum()
    return [
        Shape(g, c, t, float(p), pool_)
        for (g, c, t, pool_), p in zip(kept.select("gpus", "cpus", "gpu_type", "pool").iter_rows(), w, strict=True)
    ]


class FragModel:
    """The shape distribution bound to one ClusterView: per-shape arrays and per-node access masks."""

    def __init__(self, view: ClusterView, shapes: list[Shape]) -> None:
        self.share = np.array([s.gpus if s.gpus < 1 - EPS else 1.0 for s in shapes])
        self.count = np.array([1 if s.gpus < 1 - EPS else round(s.gpus) for s in shapes], dtype=np.int64)
        self.cpus = np.array([s.cpus for s in shapes])
        self.weight = np.array([s.weight for s in shapes])
        masks = [view.allowed(s.gpu_type, s.pool) for s in shapes]
        # (nodes, shapes): may shape m run on node n at all (GPU model, node pool); padded to at least one shape
        self.access: B = np.ones((view.n, len(shapes)), dtype=bool)
        for m, mask in enumerate(masks):
            if mask is not None:
                self.access[:, m] = mask
        self.check_cpu = view.cpu_limited

    def stats(self, slots: F64) -> tuple[F64, F64, F64]:
        """Per row of `slots` (free share per GPU, -1 padding) and shape: GPUs with room for the shape's
        per-GPU share (rows x shapes), free share on the GPUs without room (rows x shapes), total free."""
        free = np.clip(slots, 0.0, None)
        room = slots[:, None, :] >= self.share[:, None] - EPS
        small = np.where(room, 0.0, free[:, None, :]).sum(axis=-1)
        return room.sum(axis=-1).astype(np.float64), small, free.sum(axis=-1)

    def value(self, room: F64, small: F64, total: F64, cpu_free: F64, nodes: I64) -> F64:
        """F from `stats` (any leading shape, shapes last; `cpu_free`, `nodes` and `total` broadcast)."""
        fits = room >= self.count - EPS
        if self.check_cpu:
            fits &= cpu_free[..., None] >= self.cpus - EPS
        fits &= self.access[nodes]
        return np.where(fits, small, total[..., None]) @ self.weight


@dataclass
class NodeStats:
    """What FGD keeps per node between calls, valid while the node's version is unchanged."""

    slots: F64  # (nodes, widest) free share per GPU, -1 padding
    room: F64  # (nodes, shapes) GPUs with room for the shape's per-GPU share
    small: F64  # (nodes, shapes) free share on GPUs without that room
    total: F64  # free GPU share
    frag: F64  # F as the node is now
    version: I64


@PLACERS.register("fgd")
class FGD(BasePlacer):
    """Fragmentation Gradient Descent: the node (and GPU) where expected fragmentation grows least.

    The shape distribution comes from `fit_workload` (the pod list, as in the paper); without it the
    placer learns it from the requests it has scored, refreshed as their count doubles."""

    class Settings(BasePlacer.Settings):
        """How much of the workload's shape distribution counts."""

        coverage: float = Field(
            1.0,
            gt=0,
            le=1,
            description="keep only the most popular pod shapes until they hold this share of the pods (1: all)",
        )

    settings: Settings

    def __init__(self, settings: Settings | None = None, *, seed: int = 0) -> None:
        super().__init__(settings, seed=seed)
        self.coverage = self.settings.coverage
        self._shapes: list[Shape] | None = None
        self._seen: dict[tuple[float, float, int], tuple[Request, int]] = {}
        self._seen_n = 0
        self._refresh_at = 16
        self._view: ClusterView | None = None
        self._model: FragModel | None = None
        self._nodes: NodeStats | None = None
        self._cache: dict[tuple[float, float, int], tuple[Request, F64, I64, I64]] = {}

    def fit_workload(self, pods: pl.DataFrame) -> None:
        """Use the shape distribution of `pods` (JOBS-like: num_gpus, num_cpus, optional gpu_type)."""
        self._shapes = workload_shapes(pods, self.coverage)
        self._view = None

    # -- learning the distribution online (simulator replays that did not call fit_workload) --
    def _observe(self, view: ClusterView, req: Request) -> None:
        if self._shapes is not None or req.gpus <= 0:
            return
        key = (req.gpus, req.cpus, id(req.type_mask))
        hit = self._seen.get(key)
        self._seen[key] = (req, (hit[1] if hit else 0) + 1)
        self._seen_n += 1
        if self._model is None or self._seen_n >= self._refresh_at:
            self._refresh_at = max(self._refresh_at, 2 * self._seen_n)
            self._bind(view, online=True)

    def _online_shapes(self, view: ClusterView) -> tuple[list[Shape], list[B | None]]:
        total = sum(c for _, c in self._seen.values())
        shapes = [Shape(r.gpus, r.cpus, None, c / total) for r, c in self._seen.values()]
        return shapes, [r.type_mask for r, _ in self._seen.values()]

    def _bind(self, view: ClusterView, online: bool = False) -> None:
        if online:
            shapes, masks = self._online_shapes(view)
            model = FragModel(view, shapes)
            for m, mask in enumerate(masks):
                if mask is not None:
                    model.access[:, m] = mask
        else:
            model = FragModel(view, self._shapes or [])
        self._view, self._model, self._nodes, self._cache = view, model, None, {}

    def _ensure(self, view: ClusterView, req: Request) -> FragModel:
        if self._view is not view:
            self._seen, self._seen_n, self._refresh_at, self._model = {}, 0, 16, None
            if self._shapes is not None:
                self._bind(view)
        self._observe(view, req)
        if self._model is None:  # nothing GPU-shaped seen yet
            self._bind(view, online=True)
        assert self._model is not None
        return self._model

    def _refresh(self, view: ClusterView, model: FragModel) -> NodeStats:
        """Per-node stats and F as the nodes are now; only nodes whose version moved are recounted."""
        if self._nodes is None:
            width = max(int(view.gpu_total.max(initial=0)), 1)
            m = len(model.weight)
            self._nodes = NodeStats(
                np.full((view.n, width), -1.0),
                np.zeros((view.n, m)),
                np.zeros((view.n, m)),
                np.zeros(view.n),
                np.zeros(view.n),
                np.full(view.n, -1, dtype=np.int64),
            )
        st = self._nodes
        stale = np.flatnonzero(st.version != view.version)
        if len(stale):
            slots = view.slot_matrix(stale)
            st.slots[stale, : slots.shape[1]] = slots
            room, small, total = model.stats(slots)
            st.room[stale], st.small[stale], st.total[stale] = room, small, total
            st.frag[stale] = model.value(room, small, total, view.cpu_free[stale], stale)
            st.version[stale] = view.version[stale]
        return st

    def _after(self, view: ClusterView, model: FragModel, req: Request, nodes: I64) -> tuple[F64, I64]:
        """F of each node after placing `req` there, and the GPU chosen for a fractional request.

        Placing changes few GPUs, so F after is derived from the node's stats, not recounted."""
        st = self._nodes
        assert st is not None
        room, small, total = st.room[nodes], st.small[nodes], st.total[nodes]
        cpu = view.cpu_free[nodes] - req.cpus
        best_slot = np.full(len(nodes), -1, dtype=np.int64)
        if req.fraction:
            # candidates: each GPU with room, one per distinct free share in a node (equal GPUs give equal F)
            slots = st.slots[nodes]
            d, share = req.fraction, model.share
            width = slots.shape[1]
            earlier = np.tril(np.ones((width, width), dtype=bool), -1)
            dup = ((slots[:, :, None] == slots[:, None, :]) & earlier).any(axis=-1)
            k, j = np.nonzero((slots >= d - EPS) & ~dup)
            f = slots[k, j][:, None]  # its free share f becomes f - d
            had = f >= share - EPS
            has = f - d >= share - EPS
            value = model.value(
                room[k] - had + has,
                small[k] + np.where(had & ~has, f - d, 0.0) - np.where(had, 0.0, d),
                total[k] - d,
                cpu[k],
                nodes[k],
            )
            out = np.full(len(nodes), np.inf)
            # per node the lowest F, ties to the lower GPU index (pairs come sorted by node, then GPU)
            order = np.lexsort((j, value, k))
            first = np.ones(len(order), dtype=bool)
            first[1:] = k[order][1:] != k[order][:-1]
            pick = order[first]
            out[k[pick]] = value[pick]
            best_slot[k[pick]] = j[pick]
            return out, best_slot
        if req.whole:
            # whole GPUs have room for every shape and hold no small share
            room, total = room - req.whole, total - req.whole
        return model.value(room, small, total, cpu, nodes), best_slot

    def score(self, view: ClusterView, req: Request) -> F64:
        """Growth of expected fragmentation per node if `req` went there."""
        model = self._ensure(view, req)
        before = self._refresh(view, model).frag
        # memory does not enter F, so requests differing only in memory share one cache entry
        key = (req.gpus, req.cpus, id(req.type_mask))
        hit = self._cache.get(key)
        if hit is None or hit[0].type_mask is not req.type_mask:
            hit = (req, np.zeros(view.n), np.full(view.n, -1, dtype=np.int64), np.full(view.n, -1, dtype=np.int64))
            self._cache[key] = hit
        _, after, slot, ver = hit
        stale = np.flatnonzero(ver != view.version)
        if len(stale):
            after[stale], slot[stale] = self._after(view, model, req, stale)
            ver[stale] = view.version[stale]
        # rounded so that nodes in the same state tie exactly and the lowest index wins
        return np.round(after - before, 9)

    def choose_slot(self, view: ClusterView, node: int, req: Request) -> int | None:
        """The GPU `score` found best for a fractional request on `node` (None: let `place` choose)."""
        hit = self._cache.get((req.gpus, req.cpus, id(req.type_mask)))
        if (
            hit is None
            or hit[0].type_mask is not req.type_mask
            or hit[3][node] != view.version[node]
            or hit[2][node] < 0
        ):
            return None
        return int(hit[2][node])


@PLACERS.register("fgd-balance")
class FGDBalance(FGD):
    """gpufleet's placer: FGD measuring fragmentation as the small pods see it, plus two terms FGD's one-step
    measure misses (docs/packing.md).

    - Size-weighted shapes: each shape's weight in F is its popularity times its GPUs to the power
      `size_power` (-3: a 0.16-GPU shape counts 244 times its popularity, a whole GPU once, an 8-GPU gang
      almost not at all). Near saturation only the small pods still find room, and they are the ones that can
      use what larger pods leave; F weighted by popularity alone is dominated by the 1-GPU shape, to which every
      partly used GPU is waste whether or not a small pod could still fill it.
    - CPU stranding: GPUs a node can no longer feed because its CPUs run out first. With the workload's
      CPUs per GPU rho, a node with g free GPUs and c free CPUs strands max(0, g - c / rho) GPUs; the
      growth of that is added with weight `strand`. It steers CPU-heavy pods to CPU-rich nodes (openb's
      T4 nodes have 52 CPUs per GPU, its P100 nodes 8) before the CPU-poor ones are starved.
    - Packing: `pack` x the node's free GPU share after placement, so that among equal fragmentation
      growth the fuller node wins (best fit), which keeps whole nodes free for multi-GPU pods.

    Weights were chosen on seeds 1-5 of the openb experiment, never on the seeds reported (42-51)."""

    class Settings(FGD.Settings):
        """The weights of the two terms FGD misses and of the shapes (chosen on seeds 1-5 of openb)."""

        strand: float = Field(1.0, ge=0, description="weight of the growth of GPUs stranded by a node's CPUs")
        pack: float = Field(0.02, ge=0, description="weight of the node's free GPU share after placement (best fit)")
        size_power: float = Field(
            -3.0, description="each shape's weight in F is its popularity x its GPUs to this power (0: popularity)"
        )

    settings: Settings

    def __init__(self, settings: Settings | None = None, *, seed: int = 0) -> None:
        super().__init__(settings, seed=seed)
        self.strand, self.pack, self.size_power = self.settings.strand, self.settings.pack, self.settings.size_power
        self._rho: float | None = None  # from fit_workload
        self._rho_online: float | None = None  # learned from the requests seen (simulator replays)

    def fit_workload(self, pods: pl.DataFrame) -> None:
        """FGD's shape distribution, size-weighted, plus the workload's CPUs per GPU among GPU pods."""
        super().fit_workload(pods)
        self._shapes = self._sized(self._shapes or [])
        gpu = pods.filter(pl.col("num_gpus") > 0)
        gpus = float(gpu["num_gpus"].sum()) if gpu.height else 0.0
        self._rho = float(gpu["num_cpus"].fill_null(0.0).sum()) / gpus if gpus > 0 else None

    def _sized(self, shapes: list[Shape]) -> list[Shape]:
        """The shapes with popularity x GPUs ** size_power as weights, renormalized."""
        if not shapes or not self.size_power:
            return shapes
        w = np.array([s.weight * s.gpus**self.size_power for s in shapes])
        w /= w.sum()
        return [Shape(s.gpus, s.cpus, s.gpu_type, float(x), s.pool) for s, x in zip(shapes, w, strict=True)]

    def _online_shapes(self, view: ClusterView) -> tuple[list[Shape], list[B | None]]:
        shapes, masks = super()._online_shapes(view)
        # rho by popularity (the size weights are F's, not the workload's), as of this refresh of the shapes
        gpus = sum(s.weight * s.gpus for s in shapes)
        self._rho_online = sum(s.weight * s.cpus for s in shapes) / gpus if gpus > EPS else None
        return self._sized(shapes), masks

    def _cpus_per_gpu(self) -> float | None:
        return self._rho if self._rho is not None else self._rho_online

    def score(self, view: ClusterView, req: Request) -> F64:
        """FGD's fragmentation growth + strand x stranded-GPU growth + pack x free GPU share after."""
        delta = super().score(view, req)
        g = max(req.gpus, 0.0)
        rho = self._cpus_per_gpu()
        if self.strand and rho and view.cpu_limited:
            before = np.maximum(0.0, view.free_sum - view.cpu_free / rho)
            after = np.maximum(0.0, view.free_sum - g - (view.cpu_free - req.cpus) / rho)
            delta = delta + self.strand * (after - before)
        if self.pack:
            delta = delta + self.pack * (view.free_sum - g) / np.maximum(view.gpu_total, 1)
        return np.round(delta, 9)
