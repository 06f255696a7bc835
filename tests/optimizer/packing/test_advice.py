"""Packing advice on a live layout: what re-placing the running GPU pods would free."""

from __future__ import annotations

import polars as pl

from gpufleet.optimizer.packing.advice import consolidation_advice, current_layout


def nodes(n: int, gpus: int = 8) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "node_id": [f"n{i}" for i in range(n)],
            "num_gpus": [gpus] * n,
            "gpu_type": ["A100"] * n,
            "num_cpus": [96.0] * n,
            "mem_bytes": [2**40] * n,
        }
    )


def pods(layout: list[tuple[str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "job_id": [f"p{i}" for i in range(len(layout))],
            "num_gpus": [g for _, g in layout],
            "num_cpus": [4.0] * len(layout),
            "mem_bytes": [2.0**34] * len(layout),
            "node": [n for n, _ in layout],
        }
    )


def test_spread_pods_are_consolidated() -> None:
    # five pods spread over four nodes: two nodes' worth of GPUs in use, none idle
    p = pods([("n0", 2), ("n1", 2), ("n2", 2), ("n3", 2), ("n0", 4)])
    now = current_layout(nodes(4), p)
    assert now["idle_nodes"] == 0 and now["nodes_partly_used"] == 4 and now["stranded_gpus"] == 20
    adv = consolidation_advice(nodes(4), p)
    assert adv["nodes_freed"] == 2 and adv["gpus_freed"] == 16 and adv["after"]["failed"] == 0
    assert "empties 2 more node(s)" in adv["reason"]


def test_tight_layout_has_nothing_to_free() -> None:
    p = pods([("n0", 8), ("n1", 4), ("n1", 4)])
    adv = consolidation_advice(nodes(3), p)
    assert adv["nodes_freed"] == 0 and adv["gpus_freed"] == 0 and "nothing to consolidate" in adv["reason"]
