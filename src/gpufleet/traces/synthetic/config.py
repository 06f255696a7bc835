"""Typed settings (pydantic v2) for the synthetic generators and the demo; field descriptions become CLI help."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gpufleet.core.gpus import MAX_GPUS_PER_NODE, MAX_NODES

# Most rows a generator makes (requests, GPU samples; jobs a fifth of it): a typo such as mean_rps=1e9 would
# otherwise fill memory before anything could say so.
MAX_ROWS = 50_000_000

# Jobs per GPU count in the Microsoft ITP cluster04 trace (15,802 jobs, 59.5 days).
ITP_CLUSTER04_GPU_MIX: dict[int, float] = {1: 11924, 2: 125, 4: 532, 8: 2779, 16: 182, 32: 254, 64: 6}
GPU_SIZES = (1, 2, 4, 8, 16, 32, 64)
# A Monday, so day 0 of the synthetic week is a weekday; fixed so output never depends on the wall clock.
SYNTHETIC_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)


class _Settings(BaseModel):
    # Unknown keys are errors: a typo in an override must not silently fall back to a default. Numbers are
    # finite: inf or nan in a generator parameter only ever surfaces later, as a crash far from its cause.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SyntheticJobsConfig(_Settings):
    """Training-job workload: arrivals, users and job names, GPU mix, run times and failures."""

    seed: int = Field(7, ge=0, description="random seed; the same seed and settings give identical jobs")
    n_jobs: int = Field(5000, ge=0, le=MAX_ROWS // 5, description="number of jobs to generate")
    days: float = Field(14.0, gt=0, le=3650, description="length of the submission window in days (day 0 is a Monday)")
    n_users: int = Field(80, ge=1, le=1_000_000, description="number of users; activity per user is Zipf-like")
    n_groups: int = Field(10, ge=1, le=1_000_000, description="number of teams (the `group` column) users belong to")
    names_per_user: int = Field(6, ge=1, le=10_000, description="distinct job names each user resubmits per GPU count")
    gpu_mix: dict[int, float] = Field(
        default_factory=lambda: dict(ITP_CLUSTER04_GPU_MIX),
        description="relative weight of each GPU count (1,2,4,8,16,32,64); default: ITP cluster04 job counts",
    )
    fail_rate: float = Field(
        0.15,
        ge=0,
        le=1,
        description=(
            "share of 1-GPU jobs that end Failed; larger jobs fail more often (x(1+log2(gpus)/3), as in Philly)"
        ),
    )
    kill_rate: float = Field(0.06, ge=0, le=1, description="share of jobs that end Killed (stopped part way)")
    other_rate: float = Field(0.1, ge=0, le=1, description="share of job names of kind 'other' (eval, notebooks)")
    constrained_rate: float = Field(0.2, ge=0, le=1, description="share of job names pinned to a GPU type")
    gpu_types: tuple[str, ...] = Field(
        ("A100", "H100", "V100"), min_length=1, description="GPU types a pinned job may ask for"
    )
    small_gpu_types: tuple[str, ...] = Field(
        ("A10|T4",),
        description=("extra GPU types (or '|' alternatives) a pinned job of at most 4 GPUs may ask for"),
    )
    diurnal_strength: float = Field(
        1.0,
        ge=0,
        le=10,
        description=("scale of the hour-of-day arrival swing; 1 = as measured on ITP cluster04, 0 = flat"),
    )
    weekend_factor: float = Field(
        0.7, ge=0, le=100, description="arrival rate on Saturday and Sunday relative to weekdays"
    )
    day_volatility: float = Field(0.5, ge=0, le=3, description="log-sd of a random per-day activity factor (busy days)")
    batch_mean: float = Field(1.67, ge=1, le=1000, description="mean jobs per submission burst (sweeps, resubmits)")
    resubmit_spread: float = Field(
        0.5,
        gt=0,
        le=1,
        description=(
            "log-sd of run time within one job name, as a fraction of the population's (lower = more predictable)"
        ),
    )
    duration_scale: float = Field(1.0, gt=0, le=1000, description="multiply every run time (to tune offered load)")

    @model_validator(mode="after")
    def _bounded(self) -> SyntheticJobsConfig:
        n = self.n_users * len(GPU_SIZES) * self.names_per_user  # one job template per user, size and name
        if n > MAX_ROWS // 5:
            raise ValueError(
                f"n_users x names_per_user x {len(GPU_SIZES)} GPU sizes asks for {n:,} job templates; at most"
                f" {MAX_ROWS // 5:,}"
            )
        return self

    @field_validator("gpu_mix")
    @classmethod
    def _known_sizes(cls, v: dict[int, float]) -> dict[int, float]:
        bad = [k for k in v if k not in GPU_SIZES]
        if bad:
            raise ValueError(f"GPU counts {bad} have no run-time model; use {list(GPU_SIZES)}")
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be >= 0 with a positive sum")
        return v


class NodePool(_Settings):
    """A group of identical machines."""

    name: str = Field(description="pool name; node ids are <name>-000, <name>-001, ...")
    gpu_type: str | None = Field(description="GPU model (see gpufleet.core.gpus); null for CPU-only nodes")
    count: int = Field(ge=0, le=MAX_NODES, description="number of nodes")
    gpus_per_node: int = Field(ge=0, le=MAX_GPUS_PER_NODE, description="GPUs per node")
    cpus: float = Field(gt=0, description="CPU cores (hardware threads) per node")
    mem_gib: float = Field(gt=0, description="main memory per node in GiB")


def _default_pools() -> list[NodePool]:
    # DGX-like training nodes (A100: 2x64c, H100: 2x56c, V100 DGX-1: 2x20c, threads counted) and
    # 4-GPU inference boxes; 64 nodes, 432 GPUs in all.
    return [
        NodePool(name="train-a100", gpu_type="A100", count=16, gpus_per_node=8, cpus=256, mem_gib=1024),
        NodePool(name="train-h100", gpu_type="H100", count=12, gpus_per_node=8, cpus=224, mem_gib=2048),
        NodePool(name="train-v100", gpu_type="V100", count=16, gpus_per_node=8, cpus=80, mem_gib=512),
        NodePool(name="infer-a10", gpu_type="A10", count=12, gpus_per_node=4, cpus=48, mem_gib=192),
        NodePool(name="infer-t4", gpu_type="T4", count=8, gpus_per_node=4, cpus=48, mem_gib=192),
    ]


class SyntheticNodesConfig(_Settings):
    """The machine inventory: one entry per pool."""

    seed: int = Field(7, ge=0, description="accepted for symmetry; the inventory is fully set by `pools`")
    pools: list[NodePool] = Field(default_factory=_default_pools, description="node pools of the fleet")

    @field_validator("pools")
    @classmethod
    def _unique_names(cls, v: list[NodePool]) -> list[NodePool]:
        names = [p.name for p in v]
        if len(set(names)) != len(names):
            raise ValueError("pool names must be unique")
        return v


class SyntheticRequestsConfig(_Settings):
    """LLM inference requests: diurnal rate with bursts, Azure-like token lengths, code and chat mixed."""

    seed: int = Field(7, ge=0, description="random seed")
    hours: float = Field(24.0, gt=0, description="length of the trace in hours")
    mean_rps: float = Field(2.0, ge=0, description="mean request rate over the trace, bursts included (req/s)")
    code_share: float = Field(
        0.31,
        ge=0,
        le=1,
        description=("share of requests to the 'code' model, the rest 'conv' (Azure 2023: 8,819 vs 19,366)"),
    )
    n_clients: int = Field(40, ge=1, le=1_000_000, description="number of clients; traffic per client is Zipf-like")
    client_skew: float = Field(1.2, ge=0, le=10, description="Zipf exponent of traffic per client (0 = even)")
    diurnal_amplitude: float = Field(
        0.3,
        ge=0,
        lt=1,
        description=(
            "relative swing of the daily rate cycle (peak = 1+a, trough = 1-a); ServeGen's aggregate is ~0.16"
        ),
    )
    peak_hour: float = Field(14.0, ge=0, lt=24, description="hour of day (since time 0) of the rate peak")
    bursts_per_hour: float = Field(1.0, ge=0, le=3600, description="mean number of burst episodes per hour")
    burst_mean_s: float = Field(90.0, gt=0, le=86400, description="mean length of a burst episode in seconds")
    burst_mult: float = Field(4.0, ge=1, le=100, description="mean rate multiplier during a burst")

    @model_validator(mode="after")
    def _bounded(self) -> SyntheticRequestsConfig:
        n = self.mean_rps * self.hours * 3600
        if n > MAX_ROWS:
            raise ValueError(f"mean_rps x hours asks for {n:,.0f} requests; at most {MAX_ROWS:,} are generated")
        return self


class SyntheticSamplesConfig(_Settings):
    """Per-GPU telemetry: utilization with daily cycles, noise and idle gaps; memory and power follow."""

    seed: int = Field(7, ge=0, description="random seed")
    n_gpus: int = Field(32, ge=1, description="number of GPUs sampled, taken across the node pools in turn")
    hours: float = Field(168.0, gt=0, description="length of the series in hours")
    interval_s: float = Field(60.0, ge=1, description="seconds between samples")
    start: datetime = Field(SYNTHETIC_EPOCH, description="time of the first sample (UTC)")
    job_mean_h: float = Field(6.0, gt=0, le=87600, description="mean hours a pod holds a GPU")
    gap_mean_h: float = Field(1.0, gt=0, le=87600, description="mean hours a GPU sits unallocated between pods")
    noise: float = Field(0.05, ge=0, le=0.5, description="sd of per-sample utilization noise")

    @model_validator(mode="after")
    def _bounded(self) -> SyntheticSamplesConfig:
        if self.interval_s > self.hours * 3600:
            raise ValueError(f"interval_s {self.interval_s:g} is longer than the series ({self.hours:g} hours)")
        n = self.n_gpus * self.hours * 3600 / self.interval_s
        if n > MAX_ROWS:
            raise ValueError(
                f"n_gpus x hours / interval_s asks for {n:,.0f} samples; at most {MAX_ROWS:,} are generated"
            )
        return self

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


class DemoConfig(_Settings):
    """Everything `gpufleet demo` generates; sub-configs without their own seed take the demo seed."""

    seed: int = Field(7, ge=0, description="seed passed to every generator that does not set its own")
    out_dir: str = Field("out/demo", description="directory the demo writes its run into")
    # 28 days rather than the generator's 14 puts the default 432-GPU fleet at a busy but not saturated load
    jobs: SyntheticJobsConfig = Field(
        default_factory=lambda: SyntheticJobsConfig(days=28.0), description="training jobs"
    )
    nodes: SyntheticNodesConfig = Field(default_factory=SyntheticNodesConfig, description="node inventory")
    requests: SyntheticRequestsConfig = Field(default_factory=SyntheticRequestsConfig, description="requests")
    samples: SyntheticSamplesConfig = Field(default_factory=SyntheticSamplesConfig, description="GPU samples")
    policies: list[tuple[str, str, str]] = Field(
        default_factory=lambda: [
            ("fifo", "best-fit", "oracle"),
            ("fifo-backfill", "best-fit", "user-history"),
            ("sjf", "best-fit", "user-history"),
            ("sjf", "best-fit", "lightgbm"),
            ("qssf", "best-fit", "user-history"),
            ("tiresias", "best-fit", "oracle"),
            ("fifo", "worst-fit", "oracle"),
        ],
        description="(scheduler, placement, predictor) triples the demo replays the synthetic jobs under",
    )

    @classmethod
    def with_seed(cls, seed: int, **overrides: Any) -> DemoConfig:
        """A DemoConfig whose generators all use `seed` (unless `overrides` give one its own)."""
        return cls.model_validate({"seed": seed, **overrides})

    @model_validator(mode="after")
    def _share_seed(self) -> DemoConfig:
        for name in ("jobs", "nodes", "requests", "samples"):
            sub: BaseModel = getattr(self, name)
            if "seed" not in sub.model_fields_set:
                setattr(self, name, sub.model_copy(update={"seed": self.seed}))
        return self
