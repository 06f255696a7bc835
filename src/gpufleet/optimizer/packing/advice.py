"""Packing advice for a live cluster: how the GPU pods running now sit on the nodes, and what re-placing the
same pods with a better placer would free — the consolidation question Karpenter and the descheduler ask,
answered with the placers validated offline. Pure: frames in, a dict with its evidence out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from gpufleet.optimizer.packing.experiment import pack_once

EPS = 1e-9


def current_layout(nodes: pl.DataFrame, pods: pl.DataFrame) -> dict[str, Any]:
    """GPUs in use per node now: idle nodes, partly used nodes and the GPUs stranded on them."""
    used = pods.group_by("node").agg(pl.col("num_gpus").sum().alias("used"))
    f = nodes.join(used, left_on="node_id", right_on="node", how="left").with_columns(pl.col("used").fill_null(0.0))
    gpu_nodes = f.filter(pl.col("num_gpus") > 0)
    total = gpu_nodes["num_gpus"].to_numpy().astype(float)
    u = np.minimum(gpu_nodes["used"].to_numpy(), total)
    partly = (u > EPS) & (u < total - EPS)
    return {
        "gpu_nodes": gpu_nodes.height,
        "gpus": float(total.sum()),
        "allocated_gpus": float(u.sum()),
        "idle_nodes": int((u <= EPS).sum()),
        "idle_gpus": float(total[u <= EPS].sum()),
        "nodes_partly_used": int(partly.sum()),
        "stranded_gpus": float((total - u)[partly].sum()),
    }


POLICIES = ("best-fit", "consolidate", "fgd-balance")


def consolidation_advice(
    nodes: pl.DataFrame, pods: pl.DataFrame, policies: tuple[str, ...] = POLICIES
) -> dict[str, Any]:
    """Now vs. the same pods re-placed largest first (best-fit decreasing is the classic bin-packing
    heuristic; FGD-style placers aim at future arrivals instead) by each of `policies` on the same nodes; the
    one that empties the most nodes wins. `pods` are JOBS-like rows (job_id, num_gpus, num_cpus, mem_bytes,
    gpu_type) with the `node` each runs on."""
    now = current_layout(nodes, pods)
    order = pods.sort(["num_gpus", "job_id"], descending=[True, False])
    tried = {p: pack_once(order, nodes, p) for p in policies}
    fits = {p: r for p, r in tried.items() if not r["failed"]} or tried
    policy = max(fits, key=lambda p: (int(fits[p]["idle_nodes"]), -policies.index(p)))  # type: ignore[call-overload]
    repacked = fits[policy]
    freed = int(repacked["idle_nodes"]) - int(now["idle_nodes"])  # type: ignore[call-overload]
    if repacked["failed"]:
        reason = f"re-placing with {policy} leaves {repacked['failed']} pod(s) without room: keep the current layout"
        freed = 0
    elif freed > 0:
        reason = (
            f"re-placing the {pods.height} GPU pods with {policy} empties {freed} more node(s)"
            f" ({now['nodes_partly_used']} partly used now, {repacked['nodes_partly_used']} after)"
        )
    else:
        reason = "the current layout is as tight as the placer gets: nothing to consolidate"
    return {
        "kind": "packing",
        "policy": policy,
        "reason": reason,
        "nodes_freed": max(0, int(freed)),
        "gpus_freed": max(0.0, float(repacked["idle_gpus"]) - now["idle_gpus"]) if freed > 0 else 0.0,  # type: ignore[arg-type]
        "now": now,
        "tried": {p: {"idle_nodes": r["idle_nodes"], "failed": r["failed"]} for p, r in tried.items()},
        "after": {
            k: repacked[k]
            for k in ("placed", "failed", "idle_nodes", "idle_gpus", "nodes_partly_used", "unallocated_gpus")
        },
    }
