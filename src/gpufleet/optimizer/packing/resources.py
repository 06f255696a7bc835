"""Per resource (GPU, CPU, memory, RDMA): what a packing used, what it left free, and how much of the free
part is stranded, i.e. on nodes where no pod of the workload fits any more.

Stranded capacity is each resource's own fragmentation figure: free cores on a node whose GPUs are all taken,
where every pod of the workload needs a GPU, are as lost as free GPUs on a node without a free core. A node
"fits a pod" by the same test `place` uses (GPU count or share, CPUs, memory, RDMA, GPU type and pool), so the
figure follows the workload: it counts nothing as stranded that some pod of the list could still use. A
resource no node has a figure for (unlimited everywhere) is left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpufleet.optimizer.packing.place import feasible
from gpufleet.optimizer.packing.pools import PodArrays
from gpufleet.optimizer.packing.view import EPS, UNLIMITED, ClusterView


def usable_nodes(view: ClusterView, pods: PodArrays, asks: str) -> np.ndarray:
    """Nodes where at least one pod shape that asks for `asks` (gpu, cpu, mem, rdma) fits now."""
    pick = {"gpu": pods.gpus, "cpu": pods.cpus, "mem": pods.mem, "rdma": pods.rdma}[asks]
    shapes = {pods.shape(i) for i in range(len(pods.job_id)) if pick[i] > 0}
    ok = np.zeros(view.n, dtype=bool)
    for shape in sorted(shapes, key=repr):  # sorted: the same work in the same order on every run
        ok |= feasible(view, view.request(*shape))
        if ok.all():
            break
    return ok


def resource_figures(view: ClusterView, pods: PodArrays) -> dict[str, dict[str, Any]]:
    """{resource: capacity, allocated, free, alloc_ratio, stranded, stranded_share} for each packed resource
    (stranded_share: stranded / free; 0 when nothing is free)."""
    known = view.active
    out: dict[str, dict[str, Any]] = {}
    rows = {
        "gpu": (view.gpu_total.astype(np.float64), view.free_sum),
        "cpu": (view.cpu_total, view.cpu_free),
        "mem_bytes": (view.mem_total, view.mem_free),
        "rdma": (view.rdma_total, view.rdma_free),
    }
    for name, (total, free) in rows.items():
        limited = known & (total < UNLIMITED)
        if not limited.any():
            continue  # no node has a figure for it: nothing is packed
        cap = float(total[limited].sum())
        left = float(free[limited].sum())
        usable = usable_nodes(view, pods, {"gpu": "gpu", "cpu": "cpu", "mem_bytes": "mem", "rdma": "rdma"}[name])
        stranded = float(free[limited & ~usable].sum())
        out[name] = {
            "capacity": cap,
            "allocated": cap - left,
            "free": left,
            "alloc_ratio": (cap - left) / cap if cap > EPS else 0.0,
            "stranded": stranded,
            "stranded_share": stranded / left if left > EPS else 0.0,
        }
    return out
