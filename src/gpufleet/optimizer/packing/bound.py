"""The offline optimum of a small packing instance, as an integer program (HiGHS through scipy's `milp`).

Question answered: of these pods, which subset and which placement allocate the most GPUs on these nodes?
An online placer sees pods one at a time and must place each that fits, so its allocation can never beat
this optimum: the gap is how far a heuristic is from the best any placement could do.

Model (pods that fit on one node; identical pods are one shape s with a count; all GPUs of a node alike,
so fractional pods go to numbered "shared" GPUs and whole-GPU pods only count GPUs):
    x[s,n] in 0..count   whole-GPU (or CPU-only) pods of shape s on node n
    z[s,n,g] in 0..      fractional pods of shape s on shared GPU g of node n
    u[n,g] in {0,1}      GPU g of node n is shared (u[n,g] >= u[n,g+1] breaks the symmetry)
    at most count pods of each shape; per shared GPU sum of fractions <= u[n,g];
    identical nodes in order of GPUs allocated (symmetry again);
    per node: whole GPUs taken + shared GPUs <= GPUs; CPUs and memory within capacity; GPU model allowed
    maximize GPUs allocated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from gpufleet.core.errors import GpufleetError
from gpufleet.optimizer.packing.pools import pod_arrays, pool_rule
from gpufleet.optimizer.packing.view import EPS, UNLIMITED, view_from_nodes

MAX_PODS = 400  # beyond this the program gets slow; the bound is meant for small instances


@dataclass(frozen=True)
class Bound:
    """The optimum (or, when the time limit stopped the solver, a proven upper bound on it)."""

    gpus: float  # best allocation found (a feasible placement)
    upper: float  # proven upper bound on any placement's allocation
    optimal: bool
    pods: int
    nodes: int


def optimal_allocation(pods: pl.DataFrame, nodes: pl.DataFrame, *, time_limit: float = 60.0) -> Bound:
    """Most GPUs any placement of `pods` (JOBS-like) on `nodes` (NODES) can allocate."""
    if pods.height > MAX_PODS:
        raise GpufleetError(f"the exact bound takes at most {MAX_PODS} pods, got {pods.height}; sample fewer")
    view = view_from_nodes(nodes)
    arrays = pod_arrays(pool_rule(pods, nodes)[0])
    gpus = np.asarray(arrays.gpus, dtype=np.float64)
    widest = int(view.gpu_total.max(initial=0))
    if (gpus > widest + EPS).any():
        raise GpufleetError(f"the exact bound handles pods that fit on one node (<= {widest} GPUs)")

    # Identical pods are interchangeable: one integer variable per (pod shape, node) instead of one binary
    # per pod, which removes the pods' symmetry from the search.
    shapes: dict[tuple[float, float, float, str | None, float, str | None], int] = {}
    for i in range(pods.height):
        key = arrays.shape(i)
        shapes[key] = shapes.get(key, 0) + 1
    cols: list[tuple[str, int, int, int]] = []  # (kind, shape or -1, node, gpu) per variable
    obj: list[float] = []
    ub: list[float] = []
    keys = list(shapes)
    for si, (g_s, c_s, m_s, t_s, r_s, p_s) in enumerate(keys):
        mask = view.allowed(t_s, p_s)
        for n in range(view.n):
            if mask is not None and not mask[n]:
                continue
            if c_s > view.cpu_total[n] + EPS or m_s > view.mem_total[n] + EPS or r_s > view.rdma_total[n] + EPS:
                continue
            if g_s >= 1 - EPS or g_s <= EPS:
                if g_s <= view.gpu_total[n] + EPS:
                    cols.append(("x", si, n, -1))
                    obj.append(g_s)
                    ub.append(float(shapes[keys[si]]))
            else:
                for g in range(int(view.gpu_total[n])):
                    cols.append(("z", si, n, g))
                    obj.append(g_s)
                    ub.append(float(min(shapes[keys[si]], int(1 / g_s + EPS))))
    shared = [(n, g) for n in range(view.n) for g in range(int(view.gpu_total[n]))]
    u_index = {ng: len(cols) + i for i, ng in enumerate(shared)}
    cols += [("u", -1, n, g) for n, g in shared]
    obj += [0.0] * len(shared)
    ub += [1.0] * len(shared)

    rows: list[int] = []
    vals: list[float] = []
    idx: list[int] = []
    lo: list[float] = []
    hi: list[float] = []

    def add(entries: list[tuple[int, float]], low: float, high: float) -> None:
        r = len(lo)
        for j, v in entries:
            rows.append(r)
            idx.append(j)
            vals.append(v)
        lo.append(low)
        hi.append(high)

    by_shape: dict[int, list[tuple[int, float]]] = {}
    by_gpu: dict[tuple[int, int], list[tuple[int, float]]] = {}
    by_node_gpu: dict[int, list[tuple[int, float]]] = {}
    by_node_alloc: dict[int, list[tuple[int, float]]] = {}
    by_node_cpu: dict[int, list[tuple[int, float]]] = {}
    by_node_mem: dict[int, list[tuple[int, float]]] = {}
    by_node_rdma: dict[int, list[tuple[int, float]]] = {}
    for j, (kind, si, n, g) in enumerate(cols):
        if kind == "u":
            by_gpu.setdefault((n, g), []).append((j, -1.0))
            by_node_gpu.setdefault(n, []).append((j, 1.0))
            continue
        g_s, c_s, m_s, _, r_s, _ = keys[si]
        by_shape.setdefault(si, []).append((j, 1.0))
        by_node_cpu.setdefault(n, []).append((j, c_s))
        by_node_mem.setdefault(n, []).append((j, m_s))
        by_node_rdma.setdefault(n, []).append((j, r_s))
        by_node_alloc.setdefault(n, []).append((j, g_s))
        if kind == "x":
            by_node_gpu.setdefault(n, []).append((j, g_s))
        else:
            by_gpu.setdefault((n, g), []).append((j, g_s))
    for si, entries in by_shape.items():
        add(entries, 0.0, float(shapes[keys[si]]))
    for entries in by_gpu.values():
        add(entries, -np.inf, 0.0)
    for n, entries in by_node_gpu.items():
        add(entries, -np.inf, float(view.gpu_total[n]))
    for n, entries in by_node_cpu.items():
        if view.cpu_total[n] < UNLIMITED:
            add(entries, -np.inf, float(view.cpu_total[n]))
    for n, entries in by_node_mem.items():
        if view.mem_total[n] < UNLIMITED:
            add(entries, -np.inf, float(view.mem_total[n]))
    for n, entries in by_node_rdma.items():
        if view.rdma_total[n] < UNLIMITED:
            add(entries, -np.inf, float(view.rdma_total[n]))
    for n, g in shared:  # shared GPUs are numbered from 0 upward: no two equivalent numberings
        if g > 0:
            add([(u_index[(n, g)], 1.0), (u_index[(n, g - 1)], -1.0)], -np.inf, 0.0)
    # identical nodes are interchangeable too: the earlier one allocates at least as many GPUs
    twins: dict[tuple[object, ...], list[int]] = {}
    for n in range(view.n):
        twins.setdefault(
            (
                view.gpu_type[n],
                view.pool[n],
                int(view.gpu_total[n]),
                float(view.cpu_total[n]),
                float(view.mem_total[n]),
                float(view.rdma_total[n]),
            ),
            [],
        ).append(n)
    for group in twins.values():
        for a, b in itertools.pairwise(group):
            add(by_node_alloc.get(b, []) + [(j, -v) for j, v in by_node_alloc.get(a, [])], -np.inf, 0.0)

    if not cols:
        return Bound(0.0, 0.0, True, pods.height, view.n)
    a = coo_array((vals, (rows, idx)), shape=(len(lo), len(cols))).tocsr()
    res = milp(
        c=-np.asarray(obj),
        constraints=LinearConstraint(a, lo, hi),
        integrality=np.ones(len(cols)),
        bounds=Bounds(0, np.asarray(ub)),
        options={"time_limit": time_limit, "disp": False},
    )
    if res.x is None:
        raise GpufleetError(f"the exact bound found no solution within {time_limit:.0f} s: {res.message}")
    best = float(-res.fun)
    dual = getattr(res, "mip_dual_bound", None)
    upper = best if res.status == 0 else float(-dual) if dual is not None and np.isfinite(dual) else float("inf")
    return Bound(best, max(upper, best), res.status == 0, pods.height, view.n)
