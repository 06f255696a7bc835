"""Who holds what share of each sampled GPU (or MIG instance), sample by sample: the first half of cost
allocation (pure: frames in, frames out).

One GPU device is (node, gpu_uuid, gpu_index, mig_profile); a pod's sample without a GPU id is a device of
its own. At one sample time a device has a size (1 for a
whole GPU, k/7 for a MIG instance `kg.*`, k/4 on an A30) and the pods sampled on it. Each pod has a weight:
its JOBS request (num_gpus) when that is a fraction of one GPU on a non-MIG device (a fractional GPU), else
1 (a whole GPU, or one time-sliced replica). With W the sum of the pods' weights on the device:
- a pod's share = size x w / max(W, 1): fractional pods get what they asked for, time-sliced replicas
  (W > 1) split the device by weight;
- a pod's busy share = min(share, util x size x w / W): the work seen on the device is done by the pods on
  it in proportion to their weights, never more than a pod's share;
- the device's unallocated share = size x max(0, 1 - W) (a whole device when no pod is on it), and the
  work on it no pod explains = max(0, util x size - the pods' busy shares).
Samples without a utilization keep their shares and get no busy share (the caller counts them apart).
"""

from __future__ import annotations

import polars as pl

from gpufleet.core.workloads import with_workload

DEVICE = ["node", "gpu_uuid", "gpu_index", "mig_profile"]
_MIG_SLICES = r"^(\d+)g\."
UNATTRIBUTED = "(no pod)"


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    """A column that may be missing from a stored frame (older stores lack some), as nulls of `dtype`."""
    return pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype)


def mig_size() -> pl.Expr:
    """The share of a whole GPU a device is: 1 for a whole GPU, k/7 for a MIG profile `kg.*` (k/4 on an A30,
    whose MIG has four slices); an unreadable profile counts as a whole GPU (flagged in `mig_unread`)."""
    k = pl.col("mig_profile").str.extract(_MIG_SLICES, 1).cast(pl.Float64, strict=False)
    slices = pl.when(pl.col("gpu_model").str.to_uppercase().str.contains("A30")).then(4.0).otherwise(7.0)
    return (
        pl.when(pl.col("mig_profile").is_null())
        .then(1.0)
        .when(k.is_not_null() & (k > 0))
        .then(pl.min_horizontal(k / slices, pl.lit(1.0)))
        .otherwise(1.0)
    )


def _tidy(samples: pl.DataFrame, nodes: pl.DataFrame, jobs: pl.DataFrame) -> pl.DataFrame:
    """Samples with the columns allocation needs, the node's pool and the pod's JOBS request and group."""
    s = samples.select(
        pl.col("ts"),
        _col(samples, "source", pl.String()).fill_null("").alias("source"),
        *(_col(samples, c, pl.String()).alias(c) for c in ("node", "gpu_uuid", "gpu_model", "mig_profile")),
        _col(samples, "gpu_index", pl.Int64()).alias("gpu_index"),
        _col(samples, "util", pl.Float64()).alias("util"),
        _col(samples, "namespace", pl.String()).alias("namespace"),
        _col(samples, "pod", pl.String()).alias("pod"),
    )
    pools = (
        nodes.select(pl.col("node_id").cast(pl.String).alias("node"), _col(nodes, "pool", pl.String()).alias("pool"))
        if "node_id" in nodes.columns
        else pl.DataFrame(schema={"node": pl.String, "pool": pl.String})
    )
    s = s.join(pools.unique("node", keep="last"), on="node", how="left")
    if "job_id" in jobs.columns:
        req = jobs.select(
            pl.col("job_id").cast(pl.String),
            _col(jobs, "num_gpus", pl.Float64()).alias("_req"),
            _col(jobs, "group", pl.String()).alias("_group"),
        ).unique("job_id", keep="last")
    else:
        req = pl.DataFrame(schema={"job_id": pl.String, "_req": pl.Float64, "_group": pl.String})
    job_id = pl.concat_str([pl.col("namespace").fill_null(""), pl.lit("/"), pl.col("pod")])
    return s.with_columns(job_id.alias("job_id")).join(req, on="job_id", how="left").drop("job_id")


def shares(samples: pl.DataFrame, nodes: pl.DataFrame, jobs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pod rows, device rows): per pod and sample its `share` and `busy` (GPUs), with namespace, workload and
    team; per device and sample its `free` share and the `unexplained` busy share no pod accounts for."""
    s = _tidy(samples, nodes, jobs).with_columns(mig_size().alias("size"))
    has_pod = pl.col("pod").is_not_null()
    fraction = pl.col("mig_profile").is_null() & (pl.col("_req") > 0) & (pl.col("_req") < 1)
    s = s.with_columns(
        pl.when(~has_pod).then(0.0).when(fraction).then(pl.col("_req")).otherwise(1.0).alias("w"),
        # a pod-level sample without a GPU id (some traces record per pod): one device per pod, as collector.derive
        pl.when(pl.col("gpu_uuid").is_null() & pl.col("gpu_index").is_null() & has_pod)
        .then(pl.concat_str([pl.lit("pod:"), pl.col("namespace").fill_null(""), pl.lit("/"), pl.col("pod")]))
        .otherwise(pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in DEVICE], separator="/"))
        .alias("device"),
    )
    key = ["source", "device", "ts"]
    s = s.with_columns(
        pl.col("w").sum().over(key).alias("W"),
        pl.col("util").mean().over(key).alias("u"),
    )
    share = pl.col("size") * pl.col("w") / pl.max_horizontal(pl.col("W"), pl.lit(1.0))
    explained = pl.col("u") * pl.col("size") * pl.col("w") / pl.col("W")
    pods = with_workload(
        s.filter(has_pod)
        .with_columns(share.alias("share"))
        .with_columns(
            # min_horizontal skips nulls: a sample without a utilization must stay without a busy share
            pl.when(pl.col("u").is_null())
            .then(None)
            .otherwise(pl.min_horizontal(pl.col("share"), explained))
            .alias("busy")
        )
    ).with_columns(
        pl.col("namespace").fill_null("(no namespace)"),
        pl.coalesce(pl.col("_group"), pl.col("namespace"), pl.lit("(no namespace)")).alias("team"),
    )
    pod_busy = pods.group_by(key).agg(pl.col("busy").sum().alias("_pb"))
    devices = (
        s.group_by(key)
        .agg(
            pl.col("size").first(),
            pl.col("W").first(),
            pl.col("u").first(),
            pl.col("gpu_model").drop_nulls().first(),
            pl.col("pool").drop_nulls().first(),
            pl.col("mig_profile").first(),
        )
        .join(pod_busy, on=key, how="left")
        .with_columns(
            (pl.col("size") * (1 - pl.col("W")).clip(lower_bound=0.0)).alias("free"),
            (pl.col("u") * pl.col("size") - pl.col("_pb").fill_null(0.0)).clip(lower_bound=0.0).alias("unexplained"),
        )
        .drop("_pb")
    )
    return pods.drop("_req", "_group"), devices
