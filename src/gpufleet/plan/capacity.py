"""Capacity search: the fewest nodes of one shape that keep a workload's p95 wait under a target, by
bisection over node counts, each probe a full replay (the dashboard's what-if page asks it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from gpufleet.core.units import human_seconds
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate


def capacity_search(
    jobs: pl.DataFrame,
    gpus_per_node: int,
    gpu_type: str,
    target_p95_wait_s: float,
    *,
    scheduler: str = "fifo-backfill",
    placement: str = "best-fit",
    lo: int = 1,
    hi: int = 512,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """The fewest nodes of `gpus_per_node` x `gpu_type` that keep p95 wait <= target for this workload
    (bisection over node counts, each probe a full simulation; p95 wait falls as nodes are added)."""
    widest = int(jobs["num_gpus"].max() or 1)  # type: ignore[arg-type]
    lo = max(lo, -(-widest // gpus_per_node))  # fewer nodes than the widest job needs can never run it
    probes: list[dict[str, Any]] = []

    def p95(n: int) -> float:
        res = simulate(
            jobs, parse_spec(f"{n}x{gpus_per_node}:{gpu_type}"), SimConfig(scheduler=scheduler, placement=placement)
        )
        s = res.summary
        probes.append(
            {
                "nodes": n,
                "GPUs": n * gpus_per_node,
                "p95 wait": human_seconds(s.p95_wait_s),
                "p95_wait_s": s.p95_wait_s,
            }
        )
        if progress is not None:
            progress(len(probes))
        # a cluster that leaves jobs unfinished does not meet any target, whatever the finished ones waited
        return s.p95_wait_s if s.unfinished == 0 else float("inf")

    if p95(hi) > target_p95_wait_s:
        return {
            "nodes": None,
            "answer": f"even {hi} nodes keep p95 wait above {human_seconds(target_p95_wait_s)}",
            "probes": probes,
        }
    while lo < hi:
        mid = (lo + hi) // 2
        if p95(mid) <= target_p95_wait_s:
            hi = mid
        else:
            lo = mid + 1
    return {
        "nodes": hi,
        "gpus": hi * gpus_per_node,
        "answer": f"{hi} nodes x {gpus_per_node} {gpu_type} ({hi * gpus_per_node} GPUs) keep p95 wait"
        f" <= {human_seconds(target_p95_wait_s)}",
        "probes": sorted(probes, key=lambda r: r["nodes"]),
    }
