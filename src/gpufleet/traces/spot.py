"""Alibaba spot-GPU cluster v2026 (GFS ASPLOS'26): the node inventory."""

from __future__ import annotations

import polars as pl

from gpufleet.core.gpus import gpu_spec
from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import read_csv


def _nodes(ctx: ReadContext) -> pl.DataFrame:
    raw = read_csv(
        ctx,
        "node_info_df.csv.gz",
        {"gpu_model": "str", "gpu_capacity_num": "int", "cpu_num": "float", "node_name": "str"},
    )
    mem = {t: gpu_spec(t).mem_bytes for t in raw["gpu_model"].drop_nulls().unique().to_list()}
    ctx.notes.append("no node memory in this trace; GPU-series-1/2 are undisclosed types (memory unknown)")
    return raw.select(
        ("spot-" + pl.col("node_name")).alias("node_id"),
        pl.col("gpu_model").alias("pool"),
        pl.col("gpu_model").alias("gpu_type"),
        pl.col("gpu_capacity_num").alias("num_gpus"),
        pl.col("gpu_model").replace_strict(mem, default=None, return_dtype=pl.Int64).alias("gpu_mem_bytes"),
        pl.col("cpu_num").alias("num_cpus"),
    )


DATASETS.add(
    "spot",
    Dataset(
        name="spot",
        folder="alibaba-spot-gpu-v2026-nodes",
        title="Alibaba spot-GPU cluster v2026 (GFS ASPLOS'26): node inventory",
        source="github.com/alibaba/clusterdata cluster-trace-v2026-spot-gpu/node_info_df.csv @ 7deb28c",
        license="research/study use (alibaba/clusterdata README)",
        parts=(Part("nodes", "NODES", "4,278 GPU nodes (A10/A100/H800...)", _nodes),),
        default_part="nodes",
    ),
)
