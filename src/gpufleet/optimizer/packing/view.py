"""ClusterView: the free capacity of every node as numpy arrays, which placers score in one vectorized pass.

GPUs are slots with a free fraction each (1.0 = whole GPU free), so GPU sharing (a pod asking for 0.3
of one GPU, as openb's gpu_milli) and whole-GPU gangs use the same state. Padding slots of nodes with
fewer GPUs than the widest node hold -1 and are never usable.
"""

from __future__ import annotations

import math
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
    type_mask: B | None = None  # allowed nodes by GPU type; None = any
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
    rows: list[list[float]] = field(init=False)  # free fraction of each GPU, per node (Python: fast scalar updates)
    whole_free: I64 = field(init=False)  # fully free GPUs per node
    frac_max: F64 = field(init=False)  # largest free fraction of any GPU per node
    shared_max: F64 = field(init=False)  # largest free fraction among partly used GPUs per node (0 if none)
    free_sum: F64 = field(init=False)  # total free GPU capacity per node
    cpu_free: F64 = field(init=False)
    mem_free: F64 = field(init=False)
    cpu_limited: bool = field(init=False)
    mem_limited: bool = field(init=False)
    version: I64 = field(init=False)  # bumped on every change of a node, so placers can cache per-node scores
    active: B = field(init=False)  # nodes in service (a node pool scaler switches them; all by default)
    all_active: bool = field(init=False)

    def __post_init__(self) -> None:
        self.rows = [[1.0] * int(g) for g in self.gpu_total]
        self._widest: dict[int, tuple[int, B | None]] = {}
        self._masks: dict[str | None, B | None] = {None: None}
        self._requests: dict[tuple[float, float, float, str | None], Request] = {}
        self.whole_free = self.gpu_total.astype(np.int64).copy()
        self.frac_max = np.where(self.gpu_total > 0, 1.0, 0.0)
        self.shared_max = np.zeros(len(self.node_ids))
        self.free_sum = self.gpu_total.astype(np.float64).copy()
        self.cpu_free = self.cpu_total.astype(np.float64).copy()
        self.mem_free = self.mem_total.astype(np.float64).copy()
        self.version = np.zeros(len(self.node_ids), dtype=np.int64)
        self.active = np.ones(len(self.node_ids), dtype=bool)
        self.all_active = True
        # with no CPU or memory limits anywhere, feasibility skips those checks (the hot path of big replays)
        self.cpu_limited = bool((self.cpu_total < UNLIMITED).any())
        self.mem_limited = bool((self.mem_total < UNLIMITED).any())

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

    def request(self, gpus: float, cpus: float, mem: float, spec: str | None) -> Request:
        """The Request for a shape, one shared object per distinct shape and one mask per GPU-type spec
        (replays ask for the same few shapes millions of times; stable masks also key the widest-node cache)."""
        key = (gpus, cpus, mem, spec)
        req = self._requests.get(key)
        if req is None:
            if spec not in self._masks:
                self._masks[spec] = self.type_mask(spec)
            req = self._requests[key] = Request(gpus, cpus, mem, self._masks[spec])
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

    def allocate(self, node: int, slots: list[tuple[int, float]], cpus: float, mem: float) -> None:
        """Take GPU shares, CPUs and memory on one node."""
        self._change(node, slots, 1.0)
        self.cpu_free[node] -= cpus
        self.mem_free[node] -= mem
        self.version[node] += 1

    def release(self, node: int, slots: list[tuple[int, float]], cpus: float, mem: float) -> None:
        """Give back what allocate took."""
        self._change(node, slots, -1.0)
        self.cpu_free[node] += cpus
        self.mem_free[node] += mem
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


def view_from_nodes(nodes: pl.DataFrame) -> ClusterView:
    """A fresh, empty ClusterView of a canonical NODES frame (unknown CPUs/memory are unlimited)."""
    cpus = nodes["num_cpus"] if "num_cpus" in nodes.columns else pl.Series([None] * nodes.height, dtype=pl.Float64)
    mem = nodes["mem_bytes"] if "mem_bytes" in nodes.columns else pl.Series([None] * nodes.height, dtype=pl.Float64)
    return ClusterView(
        node_ids=nodes["node_id"].to_list(),
        gpu_type=nodes["gpu_type"].to_list(),
        gpu_total=nodes["num_gpus"].fill_null(0).to_numpy().astype(np.int64),
        cpu_total=cpus.cast(pl.Float64).fill_null(UNLIMITED).to_numpy().astype(np.float64),
        mem_total=mem.cast(pl.Float64).fill_null(UNLIMITED).to_numpy().astype(np.float64),
    )
