"""Microsoft Philly (ATC'19), partial: the last 15,000 jobs and the per-minute busy-server series."""

from __future__ import annotations

import polars as pl

from gpufleet.core.units import DAY
from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import drop_nulls_counted, expect_seconds, read_csv


def _jobs(ctx: ReadContext) -> pl.DataFrame:
    name = "philly_jobs_last15k.csv.gz"
    raw = read_csv(
        ctx,
        name,
        {
            "u_id": "int",
            "user": "str",
            "gpu_num": "float",
            "node_num": "int",
            "interval": "float",
            "run_time": "float",
            "new_status": "str",
        },
    )
    # interval is relative to the previous submission: a skipped row would shift every later job, so
    # a missing interval is an error here even in skip mode.
    if raw["interval"].null_count():
        raise_row = int(raw.with_row_index().filter(pl.col("interval").is_null())["index"][0]) + 2
        from gpufleet.core.errors import TraceError

        raise TraceError(
            f"{ctx.folder}/{name}: line {raise_row}, column 'interval': empty; later submit times would all shift"
        )
    raw = drop_nulls_counted(ctx, raw, ["u_id", "gpu_num"], f"{name}: empty field")
    # Median run time is 289 s; a median above 4 h means milliseconds.
    expect_seconds(ctx, name, raw["run_time"], max_median=4 * 3600.0)
    expect_seconds(ctx, name, raw["interval"], max_median=DAY)
    ctx.notes.append(
        "submit_time = cumulative sum of interval (s since the first of the 15k jobs); "
        "user re-numbered 1..136; status Pass/Failed/Killed"
    )
    return raw.select(
        ("philly-" + pl.col("u_id").cast(pl.Utf8)).alias("job_id"),
        pl.col("interval").cum_sum().alias("submit_time"),
        pl.col("run_time").alias("duration"),
        pl.col("gpu_num").alias("num_gpus"),
        pl.col("user"),
        pl.col("new_status").alias("status"),
        pl.lit("train").alias("kind"),
        pl.col("node_num").alias("num_nodes"),
    )


def _busy(ctx: ReadContext) -> pl.DataFrame:
    raw = read_csv(ctx, "philly_node_sequence.csv.gz", {"time": "datetime", "active": "float", "total": "float"})
    ctx.notes.append(
        "unique_id 'active' = servers busy with >= 1 job, 'total' = servers in the cluster;"
        " trace-local minutes read as UTC"
    )
    ctx.epoch = None
    return pl.concat(
        [
            raw.select(pl.lit("active").alias("unique_id"), pl.col("time").alias("ds"), pl.col("active").alias("y")),
            raw.select(pl.lit("total").alias("unique_id"), pl.col("time").alias("ds"), pl.col("total").alias("y")),
        ]
    )


DATASETS.add(
    "philly",
    Dataset(
        name="philly",
        folder="microsoft-philly",
        title="Microsoft Philly (ATC'19), partial: last 15k jobs + per-minute busy servers",
        source=(
            "github.com/DIR-LAB/Gen-Parallel-Workloads @ c1b61aa; "
            "github.com/S-Lab-System-Group/HeliosArtifact @ 6345d9f"
        ),
        license="CC-BY-4.0 (Philly data); MIT (HeliosArtifact)",
        parts=(
            Part("jobs", "JOBS", "last 15,000 Philly jobs (user, GPUs, status, run time)", _jobs, "submit_time"),
            Part("busy-servers", "SERIES", "per-minute busy and total servers, Oct-Dec 2017", _busy, "ds", lower=0.0),
        ),
        default_part="jobs",
    ),
)
