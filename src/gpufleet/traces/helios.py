"""SenseTime Helios (SC'21), Earth cluster: per-minute GPU allocation and queue per virtual cluster."""

from __future__ import annotations

import polars as pl

from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import read_csv

VCS = ("vc3sl", "vc8Sj", "vcJLV", "vcLJZ", "vcSoL", "vccaA", "vcgkz", "vchbv", "vcira", "vcpDC")
# The series a forecaster or autoscaler needs; the other columns are splits of these by job size.
METRICS = (
    "running_gpu_num",
    "pending_gpu_num",
    "total_gpu_num",
    "running_job_num",
    "pending_job_num",
    "gpu_utilization",
)


def _vc(vc: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        raw = read_csv(ctx, f"earth_vc_minutely/{vc}.csv.gz", {"time": "datetime"} | {m: "float" for m in METRICS})
        ctx.notes.append("unique_id is the metric name; gpu_utilization is the allocation ratio, not SM activity")
        return raw.unpivot(index="time", on=list(METRICS), variable_name="unique_id", value_name="y").select(
            "unique_id", pl.col("time").alias("ds"), "y"
        )

    return read


def _all_vcs(ctx: ReadContext) -> pl.DataFrame:
    # Every VC file in the folder, not only the 10 known ones: another slice of Earth reads the same way.
    assert ctx.folder is not None
    found = sorted(p.name.removesuffix(".csv.gz") for p in (ctx.folder / "earth_vc_minutely").glob("*.csv.gz"))
    frames = []
    for vc in found or VCS:
        raw = read_csv(
            ctx,
            f"earth_vc_minutely/{vc}.csv.gz",
            {"time": "datetime", "running_gpu_num": "float", "total_gpu_num": "float"},
        )
        frames.append(
            raw.select(
                pl.lit(vc).alias("unique_id"),
                pl.col("time").alias("ds"),
                pl.col("running_gpu_num").alias("y"),
                pl.col("total_gpu_num").alias("capacity"),
            )
        )
    ctx.notes.append("allocated GPUs (running_gpu_num) per VC; unique_id is the VC; capacity = total_gpu_num")
    return pl.concat(frames)


def _gpu_number(file: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        raw = read_csv(ctx, file, {"date": "datetime"}, others="float")
        ctx.notes.append("GPUs per VC per day; unique_id is the VC or 'total'")
        return raw.unpivot(index="date", variable_name="unique_id", value_name="y").select(
            "unique_id", pl.col("date").alias("ds"), "y"
        )

    return read


DATASETS.add(
    "helios",
    Dataset(
        name="helios",
        folder="sensetime-helios-earth",
        title="SenseTime Helios (SC'21), Earth: per-minute GPU allocation and queue per VC, May 2020",
        source="github.com/S-Lab-System-Group/HeliosArtifact @ bdaae10; HeliosData @ 50b7631",
        license="CC-BY-4.0 (HeliosData); MIT (HeliosArtifact)",
        parts=(
            *(
                Part(
                    vc,
                    "SERIES",
                    f"VC {vc}: allocated/pending GPUs, jobs, capacity per minute",
                    _vc(vc),
                    "ds",
                    lower=0.0,
                )
                for vc in VCS
            ),
            Part(
                "earth",
                "SERIES",
                "allocated GPUs per minute for every VC (10 here), with its capacity",
                _all_vcs,
                "ds",
                lower=0.0,
                capacity=True,
            ),
            Part(
                "earth-gpus",
                "SERIES",
                "Earth GPUs per VC per day, Apr-Sep 2020",
                _gpu_number("earth_gpu_number.csv.gz"),
                "ds",
                lower=0.0,
            ),
            Part(
                "venus-gpus",
                "SERIES",
                "Venus GPUs per VC per day, Apr-Sep 2020",
                _gpu_number("venus_gpu_number.csv.gz"),
                "ds",
                lower=0.0,
            ),
        ),
        default_part="vc8Sj",
    ),
)
