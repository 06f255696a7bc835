"""ClusterView: the free capacity of every node as numpy arrays, which placers score in one vectorized pass.

GPUs are slots with a free fraction each (1.0 = whole GPU free), so GPU sharing (a pod asking for 0.3
of one GPU, as openb's gpu_milli) and whole-GPU gangs use the same state. Padding slots of nodes with
fewer GPUs than the widest node hold -1 and are never usable. CPUs, memory and RDMA are packed too (a node
without a figure for one is unlimited in it), and a request may be held to GPU types and to a node pool.

`view_from_nodes` orders the nodes by their id (numbers in ids by value), whatever order the inventory lists
them in: placers break ties by node index, so that index must not depend on how a file happened to be sorted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
EPS = 1e-9
UNLIMITED = 1e18  # capacity that stands for "unknown, never the binding constraint"


@dataclass
class Request:
    """What one job (or one chunk of a gang) asks of a node."""

    gpus: float
    cpus: float = 0.0
    mem: float = 0.0
    type_mask: B | None = None  # the nodes it may use (its GPU types and its pool); None = any
    rdma: float = 0.0
    whole: int = field(init=False)  # whole GPUs asked for (above one GPU, rounded up to whole GPUs)
    fraction: float = field(init=False)  # the share of one GPU asked for when below one GPU, else 0

    def __post_init__(self) -> None:
        g = self.gpus
        self.whole = 0 if g < 1 - EPS else math.ceil(g - EPS)
        self.fraction = g if 0 < g < 1 - EPS else 0.0


@dataclass
class ClusterView:
    """Capacity and free capacity per node; placers read it, the simulator mutates it via allocate/release."""

    node_ids: list[str]
    gpu_type: list[str | None]
    gpu_total: I64
    cpu_total: F64
    mem_total: F64
    rdma_total: F64 = field(default_factory=lambda: np.empty(0))  # empty: unlimited on every node
    pool: list[str | None] = field(default_factory=list)  # node pool of each node; empty: no pools
    rows: list[list[float]] = field(init=False)  # free fraction of each GPU, per node (Python: fast scalar updates)
    whole_free: I64 = field(init=False)  # fully free GPUs per node
    frac_max: F64 = field(init=False)  # largest free fraction of any GPU per node
    shared_max: F64 = field(init=False)  # largest free fraction among partly used GPUs per node (0 if none)
    free_sum: F64 = field(init=False)  # total free GPU capacity per node
    cpu_free: F64 = field(init=False)
    mem_free: F64 = field(init=False)
    rdma_free: F64 = field(init=False)
    cpu_limited: bool = field(init=False)
    mem_limited: bool = field(init=False)
    rdma_limited: bool = field(init=False)
    version: I64 = field(init=False)  # bumped on every change of a node, so placers can cache per-node scores
    active: B = field(init=False)  # nodes in service (a node pool scaler switches them; all by default)
    all_active: bool = field(init=False)

    def __post_init__(self) -> None:
        self.rows = [[1.0] * int(g) for g in self.gpu_total]
        self._widest: dict[int, tuple[int, B | None]] = {}
        self._masks: dict[tuple[str | None, str | None], B | None] = {(None, None): None}
        self._requests: dict[tuple[float, float, float, str | None, float, str | None], Request] = {}
        if len(self.rdma_total) != len(self.node_ids):
            self.rdma_total = np.full(len(self.node_ids), UNLIMITED)
        if len(self.pool) != len(self.node_ids):
            self.pool = [None] * len(self.node_ids)
        self.whole_free = self.gpu_total.astype(np.int64).copy()
        self.frac_max = np.where(self.gpu_total > 0, 1.0, 0.0)
        self.shared_max = np.zeros(len(self.node_ids))
        self.free_sum = self.gpu_total.astype(np.float64).copy()
        self.cpu_free = self.cpu_total.astype(np.float64).copy()
        self.mem_free = self.mem_total.astype(np.float64).copy()
        self.rdma_free = self.rdma_total.astype(np.float64).copy()
        self.version = np.zeros(len(self.node_ids), dtype=np.int64)
        self.active = np.ones(len(self.node_ids), dtype=bool)
        self.all_active = True
        # with no CPU or memory limits anywhere, feasibility skips those checks (the hot path of big replays)
        self.cpu_limited = bool((self.cpu_total < UNLIMITED).any())
        self.mem_limited = bool((self.mem_total < UNLIMITED).any())
        self.rdma_limited = bool((self.rdma_total < UNLIMITED).any())

    @property
    def slots(self) -> F64:
        """(nodes, widest node) array of free fractions per GPU, -1 where a node has no such GPU (a copy)."""
        width = max((len(r) for r in self.rows), default=0)
        out = np.full((len(self.rows), max(width, 1)), -1.0)
        for i, r in enumerate(self.rows):
            out[i, : len(r)] = r
        return out

    def slot_matrix(self, nodes: I64) -> F64:
        """(len(nodes), widest node) free fractions of the given nodes, -1 where a node has no such GPU."""
        width = max((len(self.rows[n]) for n in nodes), default=0)
        out = np.full((len(nodes), max(width, 1)), -1.0)
        for k, n in enumerate(nodes):
            r = self.rows[n]
            out[k, : len(r)] = r
        return out

    @property
    def widest(self) -> dict[int, tuple[int, B | None]]:
        """Cache: widest node per GPU-type mask (by id of the mask object)."""
        return self._widest

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def total_gpus(self) -> float:
        """GPUs in the cluster."""
        return float(self.gpu_total.sum())

    def type_mask(self, spec: str | None) -> B | None:
        """Nodes whose GPU type is one of `spec` ('A|B'); None when any type will do."""
        if not spec:
            return None
        allowed = set(spec.split("|"))
        return np.array([t in allowed for t in self.gpu_type], dtype=bool)

    def pool_mask(self, pool: str | None) -> B | None:
        """Nodes of node pool `pool`; None when the request names no pool (any node will do)."""
        if pool is None:
            return None
        return np.array([p == pool for p in self.pool], dtype=bool)

    def allowed(self, spec: str | None, pool: str | None = None) -> B | None:
        """The nodes a request of GPU types `spec` and node pool `pool` may use (one cached mask per pair)."""
        key = (spec, pool)
        if key not in self._masks:
            t, p = self.type_mask(spec), self.pool_mask(pool)
            self._masks[key] = t if p is None else (p if t is None else t & p)
        return self._masks[key]

    def request(
        self, gpus: float, cpus: float, mem: float, spec: str | None, rdma: float = 0.0, pool: str | None = None
    ) -> Request:
        """The Request for a shape, one shared object per distinct shape and one mask per (GPU types, pool)
        (replays ask for the same few shapes millions of times; stable masks also key the widest-node cache)."""
        key = (gpus, cpus, mem, spec, rdma, pool)
        req = self._requests.get(key)
        if req is None:
            req = self._requests[key] = Request(gpus, cpus, mem, self.allowed(spec, pool), rdma)
        return req

    def _change(self, node: int, slots: list[tuple[int, float]], sign: float) -> None:
        # Incremental bookkeeping in plain Python: replays call this millions of times on rows of a few GPUs.
        row = self.rows[node]
        whole, moved, one = 0, 0.0, 1.0 - EPS
        for s, amount in slots:
            before = row[s]
            after = before - sign * amount
            if after < 0.0 or after > 1.0:
                if after < -EPS or after > 1.0 + EPS:
                    raise AssertionError(f"GPU {s} of node {self.node_ids[node]} would hold {after:.6f} of a GPU")
                after = 0.0 if after < 0.0 else 1.0
            row[s] = after
            if after >= one:
                whole += 1
            if before >= one:
                whole -= 1
            moved += after - before
        if whole:
            self.whole_free[node] += whole
        self.free_sum[node] += moved
        self.frac_max[node] = max(row) if row else 0.0
        self.shared_max[node] = max((v for v in row if EPS < v < 1.0 - EPS), default=0.0)

    def allocate(self, node: int, slots: list[tuple[int, float]], cpus: float, mem: float, rdma: float = 0.0) -> None:
        """Take GPU shares, CPUs, memory and RDMA on one node."""
        self._change(node, slots, 1.0)
        self.cpu_free[node] -= cpus
        self.mem_free[node] -= mem
        if rdma:
            self.rdma_free[node] -= rdma
        self.version[node] += 1

    def release(self, node: int, slots: list[tuple[int, float]], cpus: float, mem: float, rdma: float = 0.0) -> None:
        """Give back what allocate took."""
        self._change(node, slots, -1.0)
        self.cpu_free[node] += cpus
        self.mem_free[node] += mem
        if rdma:
            self.rdma_free[node] += rdma
        self.version[node] += 1

    def set_active(self, node: int, on: bool) -> None:
        """Put a node in or out of service; only an empty node may leave."""
        if not on and self.free_sum[node] < self.gpu_total[node] - EPS:
            raise AssertionError(f"node {self.node_ids[node]} still runs work")
        self.active[node] = on
        self.all_active = bool(self.active.all())
        self.version[node] += 1

    @property
    def active_gpus(self) -> float:
        """GPUs on nodes in service."""
        return float(self.gpu_total[self.active].sum())

    def allocated_gpus(self) -> float:
        """GPUs currently allocated (fractions count as fractions)."""
        return float(self.total_gpus - self.free_sum.sum())


def node_order(ids: list[str]) -> list[int]:
    """Row positions of `ids` in id order, numbers inside ids compared by value (node-2 before node-10)."""

    def key(i: int) -> tuple[tuple[int, int | str], ...]:
        parts = re.split(r"(\d+)", ids[i])
        return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)

    return sorted(range(len(ids)), key=key)


def view_from_nodes(nodes: pl.DataFrame) -> ClusterView:
    """A fresh, empty ClusterView of a canonical NODES frame, nodes in id order (`node_order`); unknown CPUs,
    memory and RDMA are unlimited."""
    nodes = nodes[node_order(nodes["node_id"].cast(pl.String).to_list())]

    def amounts(col: str) -> F64:
        if col not in nodes.columns:
            return np.full(nodes.height, UNLIMITED)
        return nodes[col].cast(pl.Float64).fill_null(UNLIMITED).to_numpy().astype(np.float64)

    pools = nodes["pool"].to_list() if "pool" in nodes.columns else []
    return ClusterView(
        node_ids=nodes["node_id"].to_list(),
        gpu_type=nodes["gpu_type"].to_list(),
        gpu_total=nodes["num_gpus"].fill_null(0).to_numpy().astype(np.int64),
        cpu_total=amounts("num_cpus"),
        mem_total=amounts("mem_bytes"),
        rdma_total=amounts("rdma"),
        pool=pools,
    )
