"""The offline optimum of a small packing instance, as an integer program (HiGHS through scipy's `milp`).

Question answered: of these pods, which subset and which placement allocate the most GPUs on these nodes?
An online placer sees pods one at a time and must place each that fits, so its allocation can never beat
this optimum: the gap is how far a heuristic is from the best any placement could do.

Model (pods that fit on one node; all GPUs of a node alike, so fractional pods go to numbered "shared"
GPUs and whole-GPU pods only count GPUs):
    x[p,n] in {0,1}      whole-GPU pod p on node n
    z[p,n,g] in {0,1}    fractional pod p on shared GPU g of node n
    u[n,g] in {0,1}      GPU g of node n is shared (u[n,g] >= u[n,g+1] breaks the symmetry)
    each pod at most once; per shared GPU sum of fractions <= u[n,g];
    per node: whole GPUs taken + shared GPUs <= GPUs; CPUs and memory within capacity; GPU model allowed
    maximize GPUs allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from gpufleet.core.errors import GpufleetError
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
    gpus = pods["num_gpus"].cast(pl.Float64).to_numpy()
    cpus = pods["num_cpus"].cast(pl.Float64).fill_null(0.0).to_numpy()
    mem = pods["mem_bytes"].cast(pl.Float64).fill_null(0.0).to_numpy() if "mem_bytes" in pods.columns else 0 * gpus
    spec = pods["gpu_type"].to_list() if "gpu_type" in pods.columns else [None] * pods.height
    widest = int(view.gpu_total.max(initial=0))
    if (gpus > widest + EPS).any():
        raise GpufleetError(f"the exact bound handles pods that fit on one node (<= {widest} GPUs)")

    cols: list[tuple[str, int, int, int]] = []  # (kind, pod or -1, node, gpu) per variable
    obj: list[float] = []
    for p in range(pods.height):
        mask = view.type_mask(spec[p])
        for n in range(view.n):
            if mask is not None and not mask[n]:
                continue
            if cpus[p] > view.cpu_total[n] + EPS or mem[p] > view.mem_total[n] + EPS:
                continue
            if gpus[p] >= 1 - EPS or gpus[p] <= EPS:
                if gpus[p] <= view.gpu_total[n] + EPS:
                    cols.append(("x", p, n, -1))
                    obj.append(gpus[p])
            else:
                for g in range(int(view.gpu_total[n])):
                    cols.append(("z", p, n, g))
                    obj.append(gpus[p])
    shared = [(n, g) for n in range(view.n) for g in range(int(view.gpu_total[n]))]
    u_index = {ng: len(cols) + i for i, ng in enumerate(shared)}
    cols += [("u", -1, n, g) for n, g in shared]
    obj += [0.0] * len(shared)

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

    by_pod: dict[int, list[tuple[int, float]]] = {}
    by_gpu: dict[tuple[int, int], list[tuple[int, float]]] = {}
    by_node_gpu: dict[int, list[tuple[int, float]]] = {}
    by_node_cpu: dict[int, list[tuple[int, float]]] = {}
    by_node_mem: dict[int, list[tuple[int, float]]] = {}
    for j, (kind, p, n, g) in enumerate(cols):
        if kind == "u":
            by_gpu.setdefault((n, g), []).append((j, -1.0))
            by_node_gpu.setdefault(n, []).append((j, 1.0))
            continue
        by_pod.setdefault(p, []).append((j, 1.0))
        by_node_cpu.setdefault(n, []).append((j, cpus[p]))
        by_node_mem.setdefault(n, []).append((j, mem[p]))
        if kind == "x":
            by_node_gpu.setdefault(n, []).append((j, gpus[p]))
        else:
            by_gpu.setdefault((n, g), []).append((j, gpus[p]))
    for entries in by_pod.values():
        add(entries, 0.0, 1.0)
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
    for n, g in shared:  # shared GPUs are numbered from 0 upward: no two equivalent numberings
        if g > 0:
            add([(u_index[(n, g)], 1.0), (u_index[(n, g - 1)], -1.0)], -np.inf, 0.0)

    if not cols:
        return Bound(0.0, 0.0, True, pods.height, view.n)
    a = coo_array((vals, (rows, idx)), shape=(len(lo), len(cols))).tocsr()
    res = milp(
        c=-np.asarray(obj),
        constraints=LinearConstraint(a, lo, hi),
        integrality=np.ones(len(cols)),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit, "disp": False},
    )
    if res.x is None:
        raise GpufleetError(f"the exact bound found no solution within {time_limit:.0f} s: {res.message}")
    best = float(-res.fun)
    dual = getattr(res, "mip_dual_bound", None)
    upper = best if res.status == 0 else float(-dual) if dual is not None and np.isfinite(dual) else float("inf")
    return Bound(best, max(upper, best), res.status == 0, pods.height, view.n)
