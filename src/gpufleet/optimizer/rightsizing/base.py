"""The RightSizer protocol, its registry, the Recommendation it returns, and the per-workload histories.

A workload is what shares one pod template: by default namespace plus the pod name without the suffixes
Kubernetes generates (ReplicaSet hash and pod id, StatefulSet ordinal, Job pod id). Its history pools the
samples of all its pods: one value per (pod, sample time) — GPUs busy (utilization summed over the pod's
GPUs), GPU memory used, and where the samples carry them, CPU cores and memory used and OOM kills.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import Field

from gpufleet.core.gpus import gpu_spec
from gpufleet.core.registry import PolicyRegistry, PolicySettings
from gpufleet.core.workloads import GroupBy, workload_name
from gpufleet.optimizer.rightsizing.mig import GPU_MEM, mig_model, smallest_profile

F64 = npt.NDArray[np.float64]


class RightSizerSettings(PolicySettings):
    """What every right-sizer lets a caller set: when a history is long enough to judge, and the step of a
    time-sliced GPU share."""

    min_history_s: float = Field(
        3 * 3600.0, ge=0, description="no opinion on a workload with less history than this (seconds)"
    )
    min_samples: int = Field(100, ge=1, description="no opinion on a workload with fewer (pod, time) samples")
    share_step: float = Field(
        0.05, gt=0, le=1, description="a time-sliced share of one GPU (no MIG) is proposed in steps of this"
    )


@dataclass
class History:
    """One workload's pooled samples, one entry per (pod, sample time)."""

    workload: str
    ts_s: F64  # seconds since the Unix epoch
    gpu_busy: F64  # GPUs busy (utilization summed over the pod's GPUs); NaN where unknown
    gpu_mem: F64  # GPU memory used, bytes; NaN where unknown
    cpu: F64  # CPU cores used; NaN where unknown
    mem: F64  # container memory used, bytes; NaN where unknown
    oom: F64  # OOM kills recorded at the sample (0/1...)
    gpus_per_pod: float  # GPUs a pod holds now
    pods: float  # pods running at the same time, on average
    gpu_model: str | None
    gpu_mem_total: float | None  # memory of one GPU, bytes
    cpu_request: float | None = None
    mem_request: float | None = None

    @property
    def samples(self) -> int:
        """Number of (pod, time) samples."""
        return len(self.ts_s)

    @property
    def span_s(self) -> float:
        """Seconds from the first to the last sample."""
        return float(self.ts_s.max() - self.ts_s.min()) if len(self.ts_s) else 0.0


@dataclass
class Recommendation:
    """What to ask for, per pod of a workload, and why."""

    workload: str
    sizer: str
    opinion: bool  # False: too little history to say anything
    reason: str  # one sentence a person can read
    samples: int
    span_h: float
    pods: float
    gpu_model: str | None = None
    current_gpus: float | None = None
    proposed_gpus: float | None = None  # GPUs (or the share of one GPU) a pod should hold
    proposed_mig: str | None = None  # MIG profile when the proposal is one
    proposed_compute: float | None = None  # GPUs of compute the proposal gives (a MIG profile: slices / 7)
    proposed_gpu_mem_bytes: float | None = None
    gpus_saved: float | None = None  # across the workload's pods running at once
    gpu_hours_saved_per_day: float | None = None
    risk: float | None = None  # share of the history's samples the proposal would not have covered
    cpu_current: float | None = None
    cpu_target: float | None = None
    cpu_lower: float | None = None
    cpu_upper: float | None = None
    mem_current: float | None = None
    mem_target: float | None = None
    mem_lower: float | None = None
    mem_upper: float | None = None
    evidence: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/CSV friendly)."""
        return asdict(self)


class RightSizer(Protocol):
    """Recommends requests for each workload from its history.

    Built by `RIGHTSIZERS.build(name, settings)`; it reads each history when asked (no fit step)."""

    Settings: ClassVar[type[RightSizerSettings]]
    learned: ClassVar[bool]  # True: fitted on data before it recommends; the built-ins read percentiles (False)
    name: str

    def __init__(self, settings: RightSizerSettings | None = None) -> None: ...

    def recommend(self, history: History) -> Recommendation:
        """One recommendation (possibly 'no opinion') for one workload."""
        ...


# the one factory: RIGHTSIZERS.build(name, settings); plugins join through the gpufleet.rightsizers group
RIGHTSIZERS: PolicyRegistry[RightSizer] = PolicyRegistry("rightsizer", plugins="gpufleet.rightsizers")


def attributed(samples: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Samples with a pod, and how many were left out; when no sample names a pod (a node-level exporter),
    all of them, each GPU standing for its own workload. A GPU sample without a pod is an idle or
    unattributed GPU: there is no request to right-size."""
    if "pod" not in samples.columns or samples["pod"].null_count() == samples.height:
        return samples, 0
    kept = samples.filter(pl.col("pod").is_not_null())
    return kept, samples.height - kept.height


def histories(
    samples: pl.DataFrame,
    *,
    by: GroupBy = "prefix",
    gpu_model: str | None = None,
    requests: pl.DataFrame | None = None,
) -> list[History]:
    """Per-workload histories from a GPU_SAMPLES frame.

    `requests` (optional: workload, gpus, cpu_request, mem_request) gives what pods ask for now; without it
    a pod holds as many GPUs as distinct GPUs it was sampled on (one when samples are per pod)."""
    cols = samples.columns
    f = samples.with_columns(
        pl.col("ts").dt.epoch("us").cast(pl.Float64).truediv(1e6).alias("_t"),
        (pl.col("pod") if "pod" in cols else pl.lit(None, pl.String)).alias("_pod"),
        (pl.col("namespace") if "namespace" in cols else pl.lit(None, pl.String)).alias("_ns"),
        *(
            (pl.col(c) if c in cols else pl.lit(None, pl.Float64)).cast(pl.Float64).alias(f"_{c}")
            for c in ("util", "mem_used_bytes", "mem_total_bytes", "cpu_used_cores", "host_mem_used_bytes")
        ),
        (pl.col("oom_killed") if "oom_killed" in cols else pl.lit(0)).cast(pl.Float64).fill_null(0).alias("_oom"),
        pl.concat_str(
            [
                (pl.col("node") if "node" in cols else pl.lit("")).fill_null(""),
                (pl.col("gpu_uuid") if "gpu_uuid" in cols else pl.lit("")).fill_null(""),
                (pl.col("gpu_index") if "gpu_index" in cols else pl.lit(None)).cast(pl.String).fill_null(""),
            ],
            separator="/",
        ).alias("_gpu"),
        (pl.col("gpu_model") if "gpu_model" in cols else pl.lit(None, pl.String)).alias("_model"),
    )
    # a sample without a pod stands for its GPU (a node-level exporter without pod attribution)
    f = f.with_columns(pl.coalesce("_pod", pl.concat_str([pl.lit("gpu:"), pl.col("_gpu")])).alias("_pod"))
    names = {(ns, pod): workload_name(pod, ns, by) for ns, pod in f.select("_ns", "_pod").unique().iter_rows()}
    f = f.with_columns(
        pl.struct("_ns", "_pod")
        .map_elements(lambda s: names[(s["_ns"], s["_pod"])], return_dtype=pl.String)
        .alias("_workload")
    )
    per_pod = (
        f.group_by("_workload", "_pod", "_t")
        .agg(
            _sum_or_null("_util").alias("busy"),
            _sum_or_null("_mem_used_bytes").alias("gmem"),
            # container-level columns repeat on each GPU row of a pod: take one, do not add up
            pl.col("_cpu_used_cores").max().alias("cpu"),
            pl.col("_host_mem_used_bytes").max().alias("mem"),
            pl.col("_oom").max().alias("oom"),
            pl.col("_gpu").n_unique().alias("ngpu"),
            pl.col("_mem_total_bytes").max().alias("gtotal"),
            pl.col("_model").drop_nulls().first().alias("model"),
        )
        .sort("_workload", "_t", "_pod")
    )
    req = {r["workload"]: r for r in requests.to_dicts()} if requests is not None else {}
    out = []
    for (name,), g in per_pod.group_by("_workload", maintain_order=True):
        assert isinstance(name, str)
        t = g["_t"].to_numpy()
        models = g["model"].drop_nulls()
        model = gpu_model or (str(models.mode().sort()[0]) if len(models) else None)
        gtotal = g["gtotal"].max()
        r = req.get(name, {})
        gpus_now = r.get("gpus") or float(g["ngpu"].max() or 1)  # type: ignore[arg-type]
        gmem = g["gmem"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        out.append(
            History(
                workload=name,
                ts_s=t,
                gpu_busy=g["busy"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
                gpu_mem=gmem,
                cpu=g["cpu"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
                mem=g["mem"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
                oom=g["oom"].cast(pl.Float64).fill_null(0.0).to_numpy(),
                gpus_per_pod=float(gpus_now),
                pods=float(g.height / max(g["_t"].n_unique(), 1)),
                gpu_model=model,
                gpu_mem_total=_gpu_mem(model, gtotal),
                cpu_request=r.get("cpu_request"),
                mem_request=r.get("mem_request"),
            )
        )
    return out


def _sum_or_null(col: str) -> pl.Expr:
    """Sum within a group, null (unknown) when every value is null rather than 0."""
    return pl.when(pl.col(col).count() > 0).then(pl.col(col).sum())


def _gpu_mem(model: str | None, observed_total: Any) -> float | None:
    """Memory of one GPU: from the samples, else the model's spec, else None."""
    if observed_total is not None and observed_total > 0:
        return float(observed_total)
    m = mig_model(model)
    if m is not None:
        return float(GPU_MEM[m])
    spec = gpu_spec(model)
    return float(spec.mem_bytes) if spec.mem_bytes else None


def guess_model(histories_: list[History]) -> str:
    """A MIG-capable model large enough for the largest GPU memory seen, for traces that do not name
    their GPUs (stated as an assumption in the output)."""
    peak = max((float(np.nanmax(h.gpu_mem)) for h in histories_ if np.isfinite(h.gpu_mem).any()), default=0.0)
    return "A100-40GB" if peak <= GPU_MEM["A100-40GB"] else "A100-80GB"


def too_little(h: History, s: RightSizerSettings) -> str | None:
    """Why a history is too short to judge, or None."""
    if h.span_s < s.min_history_s or h.samples < s.min_samples:
        return (
            f"only {h.span_s / 3600:.1f} h and {h.samples} samples of history;"
            f" no opinion below {s.min_history_s / 3600:g} h or {s.min_samples} samples"
        )
    return None


@dataclass
class GpuProposal:
    """What one pod should hold: GPUs (or a share), its compute and memory capacity, and a MIG profile."""

    gpus: float
    compute: float  # GPUs of compute the proposal gives
    memory: float  # GPU memory the proposal gives, bytes (inf when unknown)
    mig: str | None


def propose_gpu(h: History, compute_need: float, mem_need: float, share_step: float = 0.05) -> GpuProposal:
    """The least GPU holding that covers `compute_need` GPUs and `mem_need` bytes (a time-sliced share of one GPU
    in steps of `share_step` where the model has no MIG)."""
    per_gpu = h.gpu_mem_total or math.inf
    if compute_need > 1 or mem_need > per_gpu:
        n = max(math.ceil(compute_need - 1e-9), math.ceil(mem_need / per_gpu - 1e-9) if per_gpu < math.inf else 1, 1)
        return GpuProposal(float(n), float(n), n * per_gpu, None)
    model = mig_model(h.gpu_model)
    if model is not None:
        p = smallest_profile(model, compute_need, mem_need)
        if p is None:
            return GpuProposal(1.0, 1.0, per_gpu, None)
        return GpuProposal(p.gpu_share(GPU_MEM[model]), p.compute_share, float(p.mem_bytes), p.name)
    # no MIG: a time-sliced share of one GPU (as openb's gpu_milli) large enough for compute and memory
    share = max(compute_need, mem_need / per_gpu if per_gpu < math.inf else 0.0, share_step)
    share = min(1.0, math.ceil(share / share_step - 1e-9) * share_step)
    return GpuProposal(share, share, share * per_gpu if per_gpu < math.inf else math.inf, None)


def exceeded(h: History, p: GpuProposal) -> float:
    """Share of the history's samples whose GPU use the proposal would not have covered."""
    busy = np.nan_to_num(h.gpu_busy, nan=0.0)
    mem = np.nan_to_num(h.gpu_mem, nan=0.0)
    over = (busy > p.compute + 1e-9) | (mem > p.memory)
    return float(over.mean()) if len(over) else 0.0


def describe_gpu(h: History, p: GpuProposal, risk: float, sizer_basis: str) -> str:
    """The one-sentence reason for a GPU proposal."""
    what = f"MIG {p.mig}" if p.mig else f"{p.gpus:g} GPU" + ("s" if p.gpus > 1 else "")
    busy = float(np.nanmax(h.gpu_busy)) if np.isfinite(h.gpu_busy).any() else float("nan")
    verb = "shrink" if p.gpus < h.gpus_per_pod - 1e-9 else "grow" if p.gpus > h.gpus_per_pod + 1e-9 else "keep"
    return (
        f"{verb} to {what} per pod (from {h.gpus_per_pod:g}): {sizer_basis}; peak busy {busy:.2f} GPU;"
        f" it would have fallen short in {risk:.1%} of {h.samples} samples over {h.span_s / 3600:.1f} h"
    )
