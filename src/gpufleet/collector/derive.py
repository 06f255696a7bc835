"""Per-workload GPU SERIES derived from the store's GPU_SAMPLES, for the demand forecasters.

Per workload (namespace + pod name without Kubernetes' generated suffixes, as the right-sizer names it) and
per `step` bucket:
- `<workload>:gpus` — GPUs held: distinct GPUs (or MIG instances) its pods were sampled on in the bucket;
  a pod-level sample without a GPU id counts as one GPU per pod;
- `<workload>:gpus_busy` — GPUs' worth of work: each GPU's mean utilization in the bucket, summed.
Samples without a pod (idle or unattributed GPUs) belong to no workload and are counted, not used. Only
whole buckets are written (see collector.vllm), once each (the store's watermark per series).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl

from gpufleet.collector.store import Store
from gpufleet.core.workloads import with_workload


def gpu_series(samples: pl.DataFrame, step_s: float) -> tuple[pl.DataFrame, int]:
    """SERIES rows from GPU_SAMPLES, and how many samples had no pod."""
    if samples.height == 0:
        return pl.DataFrame(schema={"unique_id": pl.String, "ds": pl.Datetime("us", "UTC"), "y": pl.Float64}), 0
    cols = samples.columns
    s = samples.filter(pl.col("pod").is_not_null()) if "pod" in cols else samples.clear()
    unattributed = samples.height - s.height
    if s.height == 0:
        return gpu_series(s, step_s)[0], unattributed

    def col(c: str) -> pl.Expr:
        return pl.col(c).cast(pl.String) if c in cols else pl.lit(None, pl.String)

    has_gpu = col("gpu_uuid").is_not_null() | col("gpu_index").is_not_null()
    ids = pl.concat_str([col(c).fill_null("") for c in ("node", "gpu_uuid", "gpu_index")], separator="/")
    f = with_workload(s.with_columns(col("namespace").alias("namespace"))).with_columns(
        pl.when(has_gpu).then(ids).otherwise(pl.lit("pod:") + pl.col("pod")).alias("_gpu"),
        (pl.col("ts").dt.epoch("us") // round(step_s * 1e6) * round(step_s * 1e6)).alias("_b"),
    )
    per_gpu = f.group_by("workload", "_b", "_gpu").agg(pl.col("util").mean().alias("u"))
    agg = per_gpu.group_by("workload", "_b").agg(
        pl.len().cast(pl.Float64).alias("gpus"), pl.col("u").sum().alias("gpus_busy")
    )
    ds = pl.from_epoch("_b", time_unit="us").dt.replace_time_zone("UTC").alias("ds")
    out = pl.concat(
        [
            agg.select((pl.col("workload") + ":gpus").alias("unique_id"), ds, pl.col("gpus").alias("y")),
            agg.select((pl.col("workload") + ":gpus_busy").alias("unique_id"), ds, pl.col("gpus_busy").alias("y")),
        ]
    )
    return out.sort("unique_id", "ds"), unattributed


def derive_gpu_series(
    store: Store,
    start: datetime,
    end: datetime,
    step_s: float,
    source: str = "prometheus",
    into: str = "derived",
    chunk_s: float = 3600,
) -> dict[str, int]:
    """Whole buckets of [start, end) from the store's GPU_SAMPLES (of `source`) into its SERIES (source
    `into`), `chunk_s` at a time (bucket-aligned), so memory stays bounded whatever the window."""
    b0 = math.floor(start.timestamp() / step_s) * step_s
    b1 = math.floor(end.timestamp() / step_s) * step_s
    chunk = max(step_s, math.floor(chunk_s / step_s) * step_s)
    written = unattributed = 0
    workloads: set[str] = set()
    scan = store.scan("GPU_SAMPLES", source)
    t = b0
    while t < b1:
        t1 = min(t + chunk, b1)
        lo, hi = datetime.fromtimestamp(t, UTC), datetime.fromtimestamp(t1, UTC)
        samples = scan.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)).collect()
        series, skipped = gpu_series(samples, step_s)
        written += store.append("SERIES", into, series, ["unique_id"])
        unattributed += skipped
        workloads |= {u.rsplit(":", 1)[0] for u in series["unique_id"].unique().to_list()}
        t = t1
    return {"series_rows": written, "workloads": len(workloads), "samples_without_pod": unattributed}
