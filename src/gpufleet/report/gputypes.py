"""The per-GPU-type view: for each GPU type of the fleet, its GPUs, what a replay kept allocated on them, the
GPU-hours of work they ran, and what they cost per month at the price table's rates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from gpufleet.core.prices import HOURS_PER_MONTH, PriceTable
from gpufleet.report.rundir import read_table

if TYPE_CHECKING:
    from gpufleet.sim.summary import Summary


def nodes_for(run: Path) -> pl.DataFrame | None:
    """The node inventory a run replayed on: its own nodes.parquet, or its demo directory's (two levels up)."""
    for d in (run, run.parent.parent):
        if (d / "nodes.parquet").is_file():
            return read_table(d, "nodes", ["node_id", "gpu_type", "num_gpus"])
    return None


def gpus_by_type(nodes: pl.DataFrame) -> dict[str, float]:
    """GPUs per type of a node inventory."""
    g = nodes.group_by("gpu_type").agg(pl.col("num_gpus").sum()).sort("gpu_type")
    return {str(t): float(n) for t, n in g.iter_rows()}


def per_type_rows(run: Path, s: Summary, nodes: pl.DataFrame, prices: PriceTable) -> list[dict[str, Any]]:
    """One row per GPU type: GPUs, allocation over the replay, GPU-hours of work, $ per GPU-hour, fleet $ per
    month, $ of the work. A multi-node job's GPU-hours are split evenly over its nodes."""
    jobs = read_table(run, "jobs", ["nodes", "num_gpus", "duration", "status"])
    node_type = dict(zip(nodes["node_id"].to_list(), nodes["gpu_type"].to_list(), strict=True))
    work = (
        jobs.filter(pl.col("nodes").is_not_null() & (pl.col("nodes") != "") & pl.col("duration").is_not_null())
        .with_columns(
            pl.col("nodes").str.split(",").alias("node"), (pl.col("num_gpus") * pl.col("duration") / 3600).alias("gh")
        )
        .with_columns((pl.col("gh") / pl.col("node").list.len()).alias("gh"))
        .explode("node")
        .with_columns(pl.col("node").replace_strict(node_type, default=None, return_dtype=pl.String).alias("gpu_type"))
        .group_by("gpu_type")
        .agg(pl.col("gh").sum())
    )
    hours = {t: float(h) for t, h in work.iter_rows()}
    span_h = s.makespan_s / 3600
    rows = []
    for t, n in gpus_by_type(nodes).items():
        rate = prices.rate(t)
        gh = hours.get(t, 0.0)
        rows.append(
            {
                "GPU type": t,
                "GPUs": int(n),
                "allocation %": 100 * gh / (n * span_h) if n and span_h else None,
                "GPU-hours of work": gh,
                "$/GPU-hour": rate,
                "fleet $/month": None if rate is None else n * HOURS_PER_MONTH * rate,
                "work $": None if rate is None else gh * rate,
            }
        )
    return rows
