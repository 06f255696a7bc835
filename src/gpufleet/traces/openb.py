"""Alibaba GPU cluster trace v2023 ("openb", FGD ATC'23): GPU-sharing pods and heterogeneous nodes."""

from __future__ import annotations

import polars as pl

from gpufleet.core.gpus import gpu_spec
from gpufleet.core.units import DAY, MiB
from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import expect_seconds, read_csv

VARIANTS = (
    ["cpu0", "cpu037", "cpu050", "cpu072", "cpu100", "cpu200", "cpu235", "cpu250", "cpu300"]
    + [f"gpushare{n}" for n in (20, 40, 60, 80, 100)]
    + [f"gpuspec{n}" for n in ("05", "10", "20", "25", "33")]
    + [f"multigpu{n}" for n in (20, 30, 40, 50)]
)
POD_COLS = {
    "name": "str",
    "cpu_milli": "float",
    "memory_mib": "float",
    "num_gpu": "int",
    "gpu_milli": "float",
}
TIME_COLS = {
    "gpu_spec": "str",
    "qos": "str",
    "pod_phase": "str",
    "creation_time": "float",
    "deletion_time": "float",
    "scheduled_time": "float",
}


def _pods(variant: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        name = f"openb_pod_list_{variant}.csv.gz"
        timed = not variant.startswith("multigpu")
        raw = read_csv(ctx, name, POD_COLS | (TIME_COLS if timed else {}))
        # A pod asks for num_gpu whole GPUs, or (num_gpu == 1) gpu_milli thousandths of one GPU.
        gpus = (
            pl.when(pl.col("num_gpu") == 1)
            .then(pl.col("gpu_milli") / 1000.0)
            .otherwise(pl.col("num_gpu").cast(pl.Float64))
        )
        cols = [
            pl.col("name").alias("job_id"),
            gpus.alias("num_gpus"),
            (pl.col("cpu_milli") / 1000.0).alias("num_cpus"),
            (pl.col("memory_mib") * MiB).round().cast(pl.Int64).alias("mem_bytes"),
            pl.lit("other").alias("kind"),
        ]
        if timed:
            expect_seconds(ctx, name, raw["creation_time"], max_value=400 * DAY)
            cols += [
                pl.col("creation_time").alias("submit_time"),
                (pl.col("deletion_time") - pl.col("creation_time")).alias("duration"),
                pl.col("gpu_spec").alias("gpu_type"),
                pl.col("qos"),
                pl.col("pod_phase").alias("status"),
                (pl.col("scheduled_time") - pl.col("creation_time")).alias("trace_wait"),
            ]
            ctx.notes.append(
                "submit_time = creation_time (s since trace start); duration = deletion - creation,"
                " censored at trace end for Running pods; trace_wait = scheduled - creation"
            )
        else:
            cols.append(pl.lit(0.0).alias("submit_time"))
            ctx.notes.append(
                "no times in this variant: submit_time is 0 for every pod and file order is the"
                " arrival order (as the FGD simulator replays it)"
            )
        ctx.notes.append("kind is 'other': the trace does not say which pods train and which serve")
        return raw.select(cols)

    return read


def _nodes(file: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        raw = read_csv(
            ctx,
            file,
            {"sn": "str", "cpu_milli": "float", "memory_mib": "float", "gpu": "int", "model": "str"},
        )
        mem = {m: gpu_spec(m).mem_bytes for m in raw["model"].drop_nulls().unique().to_list()}
        ctx.notes.append("G1/G2/G3 are undisclosed GPU types: their memory is unknown (null)")
        return raw.select(
            pl.col("sn").alias("node_id"),
            pl.lit("openb").alias("pool"),
            pl.col("model").alias("gpu_type"),
            pl.col("gpu").alias("num_gpus"),
            pl.col("model").replace_strict(mem, default=None, return_dtype=pl.Int64).alias("gpu_mem_bytes"),
            (pl.col("cpu_milli") / 1000.0).alias("num_cpus"),
            (pl.col("memory_mib") * MiB).round().cast(pl.Int64).alias("mem_bytes"),
        )

    return read


DATASETS.add(
    "openb",
    Dataset(
        name="openb",
        folder="alibaba-gpu-v2023-openb",
        title="Alibaba GPU cluster trace v2023 (openb, FGD ATC'23): GPU-sharing pods and nodes",
        source="github.com/alibaba/clusterdata cluster-trace-gpu-v2023/csv @ 50a91c7",
        license="research/study use (alibaba/clusterdata README); redistributed under Apache-2.0 by the FGD simulator",
        parts=(
            Part("default", "JOBS", "8,152 pods of the base trace", _pods("default"), "submit_time"),
            Part(
                "nodes",
                "NODES",
                "all 1,523 nodes (1,213 with GPUs)",
                _nodes("openb_node_list_all_node.csv.gz"),
            ),
            Part("gpu-nodes", "NODES", "the 1,213 GPU nodes", _nodes("openb_node_list_gpu_node.csv.gz")),
            *(Part(v, "JOBS", f"pod list variant {v} (resampled upstream)", _pods(v), "submit_time") for v in VARIANTS),
        ),
        default_part="default",
    ),
)
