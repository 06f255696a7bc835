"""Microsoft ITP training-job traces (ElasticFlow, ASPLOS'23): 7 clusters, submit / duration / GPUs."""

from __future__ import annotations

import polars as pl

from gpufleet.core.units import DAY
from gpufleet.traces.base import DATASETS, Dataset, Part, ReadContext
from gpufleet.traces.csvio import drop_nulls_counted, expect_seconds, read_csv

# All ten ElasticFlow clusters: the shared folder has seven, a user's may have the others (`itp:*` takes
# whichever files are present).
CLUSTERS = tuple(f"cluster{k:02d}" for k in range(1, 11))


def _reader(cluster: str):  # type: ignore[no-untyped-def]
    def read(ctx: ReadContext) -> pl.DataFrame:
        name = f"itp_{cluster}.csv.gz"
        raw = read_csv(
            ctx, name, {"job_id": "str", "submission_time": "float", "duration": "float", "num_gpu": "float"}
        )
        raw = drop_nulls_counted(ctx, raw, ["job_id", "submission_time", "num_gpu"], f"{name}: empty field")
        # Median run times are 1.2-3.3 h per cluster; a median above a day means milliseconds.
        expect_seconds(ctx, name, raw["duration"], max_median=DAY)
        expect_seconds(ctx, name, raw["submission_time"], max_value=400 * DAY)
        ctx.notes.append("times are seconds since the start of collection (2021-03-04); no user, name or status")
        return raw.select(
            pl.col("job_id"),
            pl.col("submission_time").alias("submit_time"),
            pl.col("duration"),
            pl.col("num_gpu").alias("num_gpus"),
            pl.lit("train").alias("kind"),
        ).sort("submit_time", maintain_order=True)

    return read


DATASETS.add(
    "itp",
    Dataset(
        name="itp",
        folder="microsoft-itp-elasticflow",
        title="Microsoft ITP DL training jobs, 7 clusters, 2021",
        source="github.com/microsoft/elasticflow-traces (data/raw-traces.tar.gz)",
        license="MIT",
        parts=tuple(
            Part(c, "JOBS", f"ITP {c} training jobs", _reader(c), "submit_time", (f"itp_{c}.csv.gz",)) for c in CLUSTERS
        ),
        default_part="cluster04",
    ),
)
