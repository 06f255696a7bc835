"""Alibaba PAI GPU cluster v2020 (NSDI'22): the machine inventory (the only part that could be obtained)."""

from __future__ import annotations

import polars as pl

from gpufleet.core.gpus import gpu_spec
from gpufleet.core.units import GiB
from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import read_csv


def _machines(ctx: ReadContext) -> pl.DataFrame:
    raw = read_csv(
        ctx,
        "pai_machine_spec.csv.gz",
        {"machine": "str", "gpu_type": "str", "cap_cpu": "float", "cap_mem": "float", "cap_gpu": "int"},
    )
    # 'CPU' machines have no GPU; 'MISC' mixes older types (K40m, K80, M60) whose memory differs.
    gtype = pl.when(pl.col("gpu_type") == "CPU").then(None).otherwise(pl.col("gpu_type"))
    mem = {t: gpu_spec(t).mem_bytes for t in raw["gpu_type"].drop_nulls().unique().to_list()}
    ctx.notes.append("cap_mem is read as GiB; MISC GPUs have unknown memory; CPU machines have gpu_type null")
    return raw.select(
        pl.col("machine").alias("node_id"),
        pl.col("gpu_type").alias("pool"),
        gtype.alias("gpu_type"),
        pl.col("cap_gpu").alias("num_gpus"),
        pl.col("gpu_type").replace_strict(mem, default=None, return_dtype=pl.Int64).alias("gpu_mem_bytes"),
        pl.col("cap_cpu").alias("num_cpus"),
        (pl.col("cap_mem") * GiB).round().cast(pl.Int64).alias("mem_bytes"),
    )


DATASETS.add(
    "pai",
    Dataset(
        name="pai",
        folder="alibaba-gpu-v2020-pai-machines",
        title="Alibaba PAI GPU cluster v2020 (NSDI'22): machine inventory",
        source="github.com/qzweng/clusterdata-cluster-trace-gpu-v2020-data pai_machine_spec @ e60d925",
        license="CC-BY-4.0",
        parts=(Part("machines", "NODES", "1,897 machines with GPU type and capacity", _machines),),
        default_part="machines",
    ),
)
