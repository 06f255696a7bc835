"""The synthetic machine inventory: one row per node of each configured pool."""

from __future__ import annotations

import polars as pl

from gpufleet.core.gpus import gpu_spec
from gpufleet.core.schemas import NODES
from gpufleet.core.units import GiB
from gpufleet.traces.synthetic.config import SyntheticNodesConfig


def node_ids(pool: str, count: int, first: int = 0, width: int = 3) -> list[str]:
    """Ids of a pool's nodes, numbered across the inventory from `first`: n000-<pool>, n001-<pool>, ... The number
    leads so that id order (which placers break ties by: optimizer/packing/view.py) is the order of the pools."""
    return [f"n{first + i:0{width}d}-{pool}" for i in range(count)]


def synthetic_nodes(cfg: SyntheticNodesConfig) -> pl.DataFrame:
    """A NODES frame with every node of every pool, in pool order."""
    rows: list[dict[str, object]] = []
    width = max(3, len(str(sum(p.count for p in cfg.pools) - 1)))
    for p in cfg.pools:
        mem = gpu_spec(p.gpu_type).mem_bytes if p.gpu_type else None
        for node in node_ids(p.name, p.count, len(rows), width):
            rows.append(
                {
                    "node_id": node,
                    "pool": p.name,
                    "gpu_type": p.gpu_type,
                    "num_gpus": p.gpus_per_node,
                    "gpu_mem_bytes": mem,
                    "num_cpus": float(p.cpus),
                    "mem_bytes": int(p.mem_gib * GiB),
                }
            )
    return pl.DataFrame(rows, schema=NODES.schema)
