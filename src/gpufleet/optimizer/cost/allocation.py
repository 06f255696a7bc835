"""Cost allocation (OpenCost-style) from GPU samples: per namespace, team or workload, GPU-hours allocated and
used and their dollars, idle cost (allocated, unused) and the fleet's idle capacity (no pod) as lines of their
own, and $ per 1M tokens where vLLM token counters say how much a workload served. Pure: frames in, a report
out; docs/cost.md defines every figure.

Each sample stands for one sample interval of its source: the median gap between consecutive samples of one
device (so a collector outage is not charged). GPU-hours = share x interval; $ = GPU-hours x the price table's
rate for (gpu_model, pool, tier). Nothing is dropped silently: GPU-hours without a price, samples without a
utilization, unreadable MIG profiles and tokens no group matches are counted in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import polars as pl

from gpufleet.core.schemas import GPU_SAMPLES, validate
from gpufleet.optimizer.cost.shares import _MIG_SLICES, shares
from gpufleet.optimizer.cost.tokens import assign_tokens, token_totals

By = Literal["namespace", "team", "workload"]
BY: tuple[By, ...] = ("namespace", "team", "workload")
DEFAULT_STEP_S = 30.0  # a source whose devices were each sampled once: the collector's default --step


class Rates(Protocol):
    """What allocation needs of a price table (core.prices.PriceTable has it)."""

    def rate(self, gpu_type: str | None, pool: str | None = None, tier: str = "on_demand") -> float | None:
        """$ per GPU-hour, or None when the type has no price."""
        ...


@dataclass(frozen=True)
class Allocation:
    """A cost allocation: one row per group, the idle-capacity and total lines, and what could not be used."""

    by: str
    tier: str
    rows: pl.DataFrame
    idle_capacity: dict[str, float | None]
    total: dict[str, float | None]
    step_s: dict[str, float]
    counts: dict[str, float] = field(default_factory=dict)

    @property
    def idle(self) -> dict[str, float | None]:
        """The allocated-but-unused line: the groups' idle GPU-hours and dollars summed."""
        h = _sum(self.rows, "idle_gpu_h")
        priced = self.rows["idle_usd"].drop_nulls() if self.rows.height else self.rows["idle_usd"]
        return {"gpu_hours": h, "usd": float(priced.sum()) if priced.len() or h == 0 else None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the rows, the idle, idle-capacity and total lines, steps and counts."""
        return {
            "by": self.by,
            "tier": self.tier,
            "rows": self.rows.to_dicts(),
            "idle": self.idle,
            "idle_capacity": self.idle_capacity,
            "total": self.total,
            "step_s": self.step_s,
            "counts": self.counts,
        }


def _sum(frame: pl.DataFrame, col: str) -> float:
    return float(frame[col].sum()) if frame.height else 0.0


def _usd(value: float | None, hours: float, unpriced: float) -> float | None:
    """Dollars of `hours` of which `unpriced` have no price: None when none of them is priced (never $0)."""
    return None if hours > 0 and unpriced >= hours else float(value or 0.0)


def sample_steps(samples: pl.DataFrame, fallback: float = DEFAULT_STEP_S) -> dict[str, float]:
    """Seconds each sample stands for, per source: the median gap between one device's consecutive samples."""
    if samples.height == 0:
        return {}
    cols = [c for c in ("node", "gpu_uuid", "gpu_index", "mig_profile") if c in samples.columns]
    src = pl.col("source").fill_null("") if "source" in samples.columns else pl.lit("")
    gaps = (
        samples.select(src.alias("source"), *cols, "ts")
        .unique()
        .sort("ts")
        .with_columns(pl.col("ts").diff().over(["source", *cols]).dt.total_microseconds().alias("gap"))
        .group_by("source")
        .agg(pl.col("gap").filter(pl.col("gap") > 0).median())
    )
    return {s: (float(g) / 1e6 if g is not None else fallback) for s, g in gaps.iter_rows()}


def _priced(frame: pl.DataFrame, rates: Rates, tier: str) -> pl.DataFrame:
    """`frame` with `rate` ($/GPU-hour, null where the price table has none) from its gpu_model and pool."""
    pairs = frame.select("gpu_model", "pool").unique()
    rated = pairs.with_columns(
        pl.Series("rate", [rates.rate(m, p, tier) for m, p in pairs.iter_rows()], dtype=pl.Float64)
    )
    return frame.join(rated, on=["gpu_model", "pool"], how="left", nulls_equal=True)


def _hours(frame: pl.DataFrame, steps: dict[str, float]) -> pl.Expr:
    return pl.col("source").replace_strict(steps, default=DEFAULT_STEP_S, return_dtype=pl.Float64) / 3600


def allocate(
    samples: pl.DataFrame,
    rates: Rates,
    *,
    by: By = "namespace",
    nodes: pl.DataFrame | None = None,
    jobs: pl.DataFrame | None = None,
    vllm: pl.DataFrame | None = None,
    tier: str = "on_demand",
    step_s: float | None = None,
) -> Allocation:
    """Allocate the sampled GPU-hours and their cost to groups (`by`), with the idle and idle-capacity lines.

    `samples` are GPU_SAMPLES rows, `nodes` NODES (for pools), `jobs` JOBS (fractional requests, teams),
    `vllm` the vLLM source's SERIES rows (token rates); `step_s` overrides the inferred sample interval."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    samples = validate(samples, GPU_SAMPLES)  # canonical dtypes (the store's are; hand-built frames may not be)
    empty = pl.DataFrame(schema={"node_id": pl.String})
    pods, devices = shares(samples, nodes if nodes is not None else empty, jobs if jobs is not None else empty)
    steps = {s: step_s for s in sample_steps(samples)} if step_s else sample_steps(samples)
    h = _hours(pods, steps)
    pods = _priced(pods, rates, tier).with_columns(
        (pl.col("share") * h).alias("alloc_h"),
        (pl.col("busy") * h).alias("used_h"),
    )
    known = pl.col("used_h").is_not_null()
    priced = pl.col("rate").is_not_null()
    rows = (
        pods.group_by(pl.col(by).alias(by))
        .agg(
            pl.col("alloc_h").sum().alias("allocated_gpu_h"),
            pl.col("used_h").sum().alias("used_gpu_h"),
            (pl.col("alloc_h") - pl.col("used_h")).filter(known).sum().alias("idle_gpu_h"),
            pl.col("alloc_h").filter(~known).sum().alias("util_unknown_gpu_h"),
            pl.col("alloc_h").filter(~priced).sum().alias("unpriced_gpu_h"),
            (pl.col("alloc_h") * pl.col("rate")).filter(priced).sum().alias("cost_usd"),
            (pl.col("used_h") * pl.col("rate")).filter(priced & known).sum().alias("used_usd"),
            ((pl.col("alloc_h") - pl.col("used_h")) * pl.col("rate")).filter(priced & known).sum().alias("idle_usd"),
        )
        .with_columns(
            # a group with no priced GPU-hour has no dollar figure (shown '-'), never $0
            pl.when(pl.col("allocated_gpu_h") > pl.col("unpriced_gpu_h")).then(pl.col(c)).alias(c)
            for c in ("cost_usd", "used_usd", "idle_usd")
        )
        .sort("cost_usd", "allocated_gpu_h", by, descending=[True, True, False], nulls_last=True)
    )
    tokens = token_totals(vllm if vllm is not None else pl.DataFrame(), DEFAULT_STEP_S)
    rows, unmatched = assign_tokens(rows, tokens, by, pods)
    hd = _hours(devices, steps)
    devices = _priced(devices, rates, tier).with_columns(
        (pl.col("free") * hd).alias("free_h"), (pl.col("unexplained") * hd).alias("unexplained_h")
    )
    dpriced = pl.col("rate").is_not_null()
    cap_h = float(devices["free_h"].sum())
    cap_unpriced = float(devices.select(pl.col("free_h").filter(~dpriced).sum()).item() or 0.0)
    idle_capacity = {
        "gpu_hours": cap_h,
        "usd": _usd(
            devices.select((pl.col("free_h") * pl.col("rate")).filter(dpriced).sum()).item(), cap_h, cap_unpriced
        ),
        "unpriced_gpu_h": cap_unpriced,
        "busy_gpu_h_without_pod": float(devices["unexplained_h"].sum()),
    }
    hours = _sum(rows, "allocated_gpu_h") + cap_h
    unpriced = _sum(rows, "unpriced_gpu_h") + cap_unpriced
    total = {
        "gpu_hours": hours,
        "usd": _usd(_sum(rows, "cost_usd") + (idle_capacity["usd"] or 0.0), hours, unpriced),
        "unpriced_gpu_h": unpriced,
    }
    return Allocation(by, tier, rows, idle_capacity, total, steps, _counts(samples, devices, unmatched))


def _counts(samples: pl.DataFrame, devices: pl.DataFrame, unmatched: float) -> dict[str, float]:
    """What allocation could not use in full, counted (docs/cost.md says how each is treated)."""
    cols = samples.columns

    def n(expr: pl.Expr) -> float:
        return float(samples.select(expr.sum()).item() or 0) if samples.height else 0.0

    no_model = pl.col("gpu_model").is_null() if "gpu_model" in cols else pl.lit(True)
    no_util = pl.col("util").is_null() if "util" in cols else pl.lit(True)
    mig = pl.col("mig_profile") if "mig_profile" in cols else pl.lit(None, pl.String)
    unread = mig.is_not_null() & mig.str.extract(_MIG_SLICES, 1).is_null()
    return {
        "samples": float(samples.height),
        "device_samples": float(devices.height),
        "samples_without_gpu_model": n(no_model),
        "samples_without_util": n(no_util),
        "samples_unreadable_mig_profile": n(unread),
        "tokens_unmatched": unmatched,
    }
