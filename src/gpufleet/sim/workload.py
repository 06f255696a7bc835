"""The job arrays the simulator runs on: plain Python lists (fast scalar access in the event loop)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.forecasting.runtime.mates import submission_groups

PRIORITY = "qssf_priority"  # a JOBS frame's column of QSSF priorities (Workload.qssf_priority)

# what a job asks of a node: GPUs, CPUs, memory, GPU types, RDMA, node pool (Workload.shape)
Shape = tuple[float, float, float, str | None, float, str | None]


def covers(shape: Shape, failed: Shape) -> bool:
    """`shape` asks at least what `failed` asked, of the same GPU types and pool: where that failed, it fails."""
    return (
        shape[0] >= failed[0]
        and shape[1] >= failed[1]
        and shape[2] >= failed[2]
        and shape[4] >= failed[4]
        and shape[3] == failed[3]
        and shape[5] == failed[5]
    )


@dataclass
class Workload:
    """Jobs in replay order (submit time, then input order: a stable order for ties and unsorted input)."""

    job_id: list[str]
    submit: list[float]
    duration: list[float]
    gpus: list[float]
    cpus: list[float]
    mem: list[float]
    gpu_type: list[str | None]
    pred: list[float]
    skipped_unknown_duration: list[str]
    group: list[str | None] = field(default_factory=list)  # team / VC / namespace; empty when the jobs have none
    mates: list[int] = field(default_factory=list)  # submission-mate group per job (forecasting.runtime.mates)
    rdma: list[float] = field(default_factory=list)  # RDMA asked for; empty: none (every job 0)
    pool: list[str | None] = field(default_factory=list)  # node pool each job is held to; empty: none
    # QSSF's key per job from an estimator run elsewhere (column `qssf_priority`: `simulate --priorities FILE`,
    # as Helios/Lucid read their estimator's file); empty: predicted duration x GPUs
    qssf_priority: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.rdma) != self.n:
            self.rdma = [0.0] * self.n
        if len(self.pool) != self.n:
            self.pool = [None] * self.n

    def shape(self, i: int, gpu_type: str | None) -> Shape:
        """What job i asks of a node (the arguments of ClusterView.request), held to GPU types `gpu_type`."""
        return self.gpus[i], self.cpus[i], self.mem[i], gpu_type, self.rdma[i], self.pool[i]

    @property
    def n(self) -> int:
        """Number of jobs to replay."""
        return len(self.job_id)


def build_workload(jobs: pl.DataFrame, predictions: pl.DataFrame | None, mate_gap_s: float = 0.0) -> Workload:
    """Order the jobs for replay, attach predicted durations, and set aside jobs without a duration; with
    `mate_gap_s` > 0, also group jobs submitted together (same user, name and GPU count, where present)."""
    df = jobs.with_row_index("__in")
    if predictions is not None:
        # Rank by the geometric mean of p10, p50 and p90: with separately trained quantile models it smooths
        # their noise; chosen on ITP clusters 02 and 07 and Philly (SJF JCT vs oracle 1.10/1.38/1.78 against
        # 1.13/1.48/1.88 for p50), not on cluster04. Point predictors have p10 = p50 = p90: unchanged.
        # cast: a predictor's frame for no jobs may carry null-typed columns
        p10, p50, p90 = (predictions[c].cast(pl.Float64) for c in ("p10", "p50", "p90"))
        gm = (p10.clip(1e-9) * p50.clip(1e-9) * p90.clip(1e-9)) ** (1 / 3)
        df = df.with_columns(pl.when(p50 > 0).then(gm).otherwise(p50).alias("__pred"))
    else:
        df = df.with_columns(pl.col("duration").alias("__pred"))
    unknown = df.filter(pl.col("duration").is_null())["job_id"].to_list()
    df = df.filter(pl.col("duration").is_not_null()).sort(["submit_time", "__in"])
    if PRIORITY in df.columns and df[PRIORITY].null_count():
        missing = df.filter(pl.col(PRIORITY).is_null())["job_id"]
        raise GpufleetError(f"{PRIORITY}: job {missing[0]!r} has none ({len(missing)} jobs without a priority)")
    mates: list[int] = []
    if mate_gap_s > 0:

        def known(col: str) -> list[str | None] | None:  # a column the trace fills (ITP has no users)
            return df[col].cast(pl.String).to_list() if col in df.columns and df[col].null_count() < df.height else None

        mates = submission_groups(
            df["submit_time"].to_list(), df["num_gpus"].to_list(), mate_gap_s, known("user"), known("name")
        )
    return Workload(
        job_id=df["job_id"].to_list(),
        submit=df["submit_time"].to_list(),
        duration=df["duration"].to_list(),
        gpus=df["num_gpus"].to_list(),
        cpus=df["num_cpus"].fill_null(0.0).to_list(),
        mem=df["mem_bytes"].cast(pl.Float64).fill_null(0.0).to_list(),
        gpu_type=df["gpu_type"].to_list(),
        pred=df["__pred"].fill_null(0.0).to_list(),
        skipped_unknown_duration=unknown,
        group=df["group"].cast(pl.String).to_list() if "group" in df.columns else [],
        mates=mates,
        rdma=df["rdma"].cast(pl.Float64).fill_null(0.0).to_list() if "rdma" in df.columns else [],
        pool=df["pool"].cast(pl.String).to_list() if "pool" in df.columns else [],
        qssf_priority=df[PRIORITY].cast(pl.Float64).to_list() if PRIORITY in df.columns else [],
    )
