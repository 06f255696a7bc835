"""References resolved to canonical frames: a trace reference (`itp:cluster04`), a cluster spec
(`64x8:V100`), a collector store or a file of one's own, each checked to be the table the caller asked for.
What every command, the dashboard and the benches load their inputs with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from gpufleet.collector.store import Store, is_store
from gpufleet.core.errors import GpufleetError
from gpufleet.sim.cluster_spec import is_spec, parse_spec
from gpufleet.traces import load


def load_jobs(ref: str, data_dir: str | Path | None, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """A JOBS frame from a reference (synthetic references take generator parameters) or a collector store."""
    if is_store(ref):
        jobs = Store(ref).read("JOBS")
        if jobs.height == 0:
            raise GpufleetError(f"{ref}: the store holds no jobs yet (gpufleet collect prometheus --jobs ...)")
        return jobs
    tr = load(ref, data_dir, expect="JOBS", **(params or {}))
    if tr.meta.table != "JOBS":
        raise GpufleetError(
            f"--jobs {ref!r} is a {tr.meta.table} table; a JOBS reference is needed (e.g. itp:cluster04)"
        )
    return tr.frame


def load_cluster(text: str, data_dir: str | Path | None) -> pl.DataFrame:
    """A NODES frame from a spec (`64x8:A100,32x8:V100`), a reference (`openb:nodes`) or a collector store
    (the node capacity kube-state-metrics reported)."""
    if is_spec(text):
        return parse_spec(text)
    if is_store(text):
        nodes = Store(text).read("NODES")
        if nodes.height == 0:
            raise GpufleetError(f"{text}: the store holds no nodes yet (gpufleet collect prometheus --jobs ...)")
        return nodes
    tr = load(text, data_dir, expect="NODES")
    if tr.meta.table != "NODES":
        raise GpufleetError(
            f"--cluster {text!r} is a {tr.meta.table} table; give a spec like 64x8:V100 or a NODES"
            " reference (openb:nodes, pai:machines, spot:nodes)"
        )
    return tr.frame


def auto_cluster(jobs: pl.DataFrame, load: float = 0.95, per_node: int = 8) -> str:
    """A V100 cluster spec sized so the trace's mean GPU demand is `load` of it (ITP/Philly give no sizes)."""
    import math

    span = float(jobs["submit_time"].max() - jobs["submit_time"].min()) or 1.0  # type: ignore[operator,arg-type]
    demand = float((jobs["duration"].fill_null(0) * jobs["num_gpus"]).sum()) / span
    return f"{max(1, math.ceil(demand / load / per_node))}x{per_node}:V100"


def natural_step(horizon_s: float, native_s: float) -> float:
    """The grid a horizon calls for: 1 min up to 30 min ahead, 10 min up to 6 h, else 1 h (never finer than
    the data's own step)."""
    step = 60.0 if horizon_s <= 1800 else 600.0 if horizon_s <= 6 * 3600 else 3600.0
    return max(step, native_s)


def load_requests(ref: str, data_dir: str | Path | None, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """A REQUESTS frame from a reference (azure-llm:conv, genai:requests, synthetic:requests)."""
    tr = load(ref, data_dir, expect="REQUESTS", **(params or {}))
    if tr.meta.table != "REQUESTS":
        raise GpufleetError(
            f"--requests {ref!r} is a {tr.meta.table} table; a REQUESTS reference is needed (e.g. azure-llm:conv)"
        )
    return tr.frame


def load_samples(ref: str, data_dir: str | Path | None, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """A GPU_SAMPLES frame from a reference (genai:gpu, synthetic:gpu-samples), a collector store directory,
    or a Parquet/CSV file of canonical GPU_SAMPLES columns."""
    path = Path(ref)
    if is_store(path):
        return Store(path).read("GPU_SAMPLES")
    tr = load(ref, data_dir, expect="GPU_SAMPLES", **(params or {}))
    if tr.meta.table != "GPU_SAMPLES":
        raise GpufleetError(
            f"--samples {ref!r} is a {tr.meta.table} table; a GPU_SAMPLES reference is needed (e.g. genai:gpu)"
        )
    return tr.frame


def load_series(
    ref: str,
    data_dir: str | Path | None,
    *,
    ids: list[str] | None = None,
    top: int | None = None,
    value: str = "util",
    params: dict[str, Any] | None = None,
) -> tuple[pl.DataFrame, str]:
    """A SERIES frame from any reference, and a note on how it was made.

    SERIES parts (and a store's per-workload SERIES) are used as they are; GPU_SAMPLES (a store without
    SERIES) become one series per GPU (or pod) of `value`; REQUESTS
    become the request rate per model at 1-minute resolution. `ids` keeps those series, `top` the busiest.
    """
    if is_store(ref):  # a collector store: its per-workload series, else one series per GPU
        f, table = Store(ref).read("SERIES"), "SERIES"
        if f.height == 0:
            f, table = Store(ref).read("GPU_SAMPLES"), "GPU_SAMPLES"
        if f.height == 0:
            raise GpufleetError(f"{ref}: the store holds no series or GPU samples yet")
    else:
        from gpufleet.traces.userfile import is_user_file

        # a file of one's own may hold any of the three tables: its columns (or --map's table:) say which
        tr = load(ref, data_dir, expect=None if is_user_file(ref) else "SERIES", **(params or {}))
        f, table = tr.frame, tr.meta.table
    note = f"{ref} ({table})"
    if table == "GPU_SAMPLES":
        if value not in ("util", "mem_used_bytes", "power_w"):
            raise GpufleetError(f"--value {value!r}: use util, mem_used_bytes or power_w")
        key = pl.coalesce(pl.col("gpu_uuid"), pl.col("pod"), pl.col("node"), pl.lit("fleet"))
        before = f.height
        f = f.select(key.alias("unique_id"), pl.col("ts").alias("ds"), pl.col(value).cast(pl.Float64).alias("y"))
        f = f.drop_nulls("y")
        note += f": {value} per GPU/pod ({before - f.height:,} samples without {value} left out)"
    elif table == "REQUESTS":
        f = (
            f.select(
                pl.coalesce(pl.col("model"), pl.lit("all")).alias("unique_id"),
                (pl.col("arrival_time") // 60 * 60).alias("t"),
            )
            .group_by("unique_id", "t")
            .agg((pl.len() / 60.0).alias("y"))
            .select(
                "unique_id",
                pl.from_epoch(pl.col("t").cast(pl.Int64), time_unit="s").dt.replace_time_zone("UTC").alias("ds"),
                "y",
            )
            .sort("unique_id", "ds")
        )
        note += ": requests/s per model per minute (seconds since the trace epoch)"
    elif table != "SERIES":
        raise GpufleetError(f"{ref} is a {table} table; forecasting needs SERIES, GPU_SAMPLES or REQUESTS")
    f = f.select("unique_id", "ds", "y")
    if ids:
        missing = sorted(set(ids) - set(f["unique_id"].unique().to_list()))
        if missing:
            raise GpufleetError(
                f"{ref} has no series {', '.join(missing)}; it has e.g. "
                f"{', '.join(sorted(f['unique_id'].unique().to_list())[:8])}"
            )
        f = f.filter(pl.col("unique_id").is_in(ids))
    if top:
        busiest = (
            f.group_by("unique_id")
            .agg(pl.col("y").mean().alias("m"))
            .sort(["m", "unique_id"], descending=[True, False])
            .head(top)["unique_id"]
        )
        f = f.filter(pl.col("unique_id").is_in(busiest))
        note += f"; the {top} series with the highest mean"
    return f, note
