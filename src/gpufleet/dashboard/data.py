"""What the dashboard shows, as plain functions over polars frames (no Streamlit here: the pages cache and draw,
the tests call these directly).

Where the data comes from, in order: a collector store (`--store`, read with lazy scans), the run directories
(`--runs`: the demo's tables, simulation and serving runs), else a small embedded synthetic fleet, so the
dashboard always has something true to show. Units: GPU-hours, GPUs, utilization as %, seconds shown as h/m.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from gpufleet.core.prices import PriceTable
from gpufleet.core.prices import load_prices as prices_table
from gpufleet.core.units import human_seconds
from gpufleet.report.rundir import read_summary
from gpufleet.report.rundir import run_kind as summary_kind
from gpufleet.sim.summary import ServingSummary, Summary, load

ENV_RUNS, ENV_STORE, ENV_PRICES = "GPUFLEET_DASHBOARD_RUNS", "GPUFLEET_DASHBOARD_STORE", "GPUFLEET_DASHBOARD_PRICES"
IDLE_UTIL = 0.05  # an allocated GPU below 5% busy is idle


@dataclass(frozen=True)
class Sources:
    runs: Path | None
    store: Path | None
    prices: Path | None = None

    @staticmethod
    def from_env() -> Sources:
        def p(name: str) -> Path | None:
            v = os.environ.get(name)
            return Path(v) if v else None

        return Sources(p(ENV_RUNS) or Path("out"), p(ENV_STORE), p(ENV_PRICES))

    def key(self) -> str:
        """A cache key that changes when the sources do."""
        parts = []
        for d in (self.runs, self.store):
            if d is not None and d.exists():
                parts.append(f"{d}:{max((f.stat().st_mtime for f in d.rglob('*.parquet')), default=0)}")
        return "|".join(parts)


# -- where the data lives -----------------------------------------------------------------------------------
def run_dirs(sources: Sources) -> list[Path]:
    """Every directory under --runs holding a summary.json (the demo, its sub-runs, simulate/autoscale runs)."""
    root = sources.runs
    if root is None or not root.is_dir():
        return []
    found = [p.parent for p in root.rglob("summary.json")]
    return sorted(found, key=lambda p: str(p))


def run_kind(run: Path) -> str:
    """demo, sim, serving or other (report.rundir.run_kind on the run's summary)."""
    return summary_kind(read_summary(run))


def demo_dir(sources: Sources) -> Path | None:
    return next((r for r in run_dirs(sources) if run_kind(r) == "demo"), None)


def samples_source(sources: Sources) -> tuple[pl.LazyFrame, str]:
    """GPU_SAMPLES as a lazy frame, and where they came from."""
    if sources.store is not None:
        from gpufleet.collector.store import Store, is_store

        if is_store(sources.store):
            lf = Store(sources.store).scan("GPU_SAMPLES")
            if lf.select(pl.len()).collect().item() > 0:
                return lf, f"collector store {sources.store}"
    demo = demo_dir(sources)
    if demo is not None and (demo / "gpu_samples.parquet").exists():
        return pl.scan_parquet(demo / "gpu_samples.parquet"), f"demo run {demo}"
    return embedded_samples().lazy(), "the embedded synthetic fleet (no store or runs given)"


def embedded_samples() -> pl.DataFrame:
    from gpufleet.traces import load

    return load("synthetic:gpu-samples", n_gpus=32, hours=48, interval_s=300).frame


def nodes_source(sources: Sources) -> tuple[pl.DataFrame, str]:
    if sources.store is not None:
        from gpufleet.collector.store import Store, is_store

        if is_store(sources.store):
            n = Store(sources.store).read("NODES")
            if n.height:
                return n, f"collector store {sources.store}"
    demo = demo_dir(sources)
    if demo is not None and (demo / "nodes.parquet").exists():
        return pl.read_parquet(demo / "nodes.parquet"), f"demo run {demo}"
    from gpufleet.traces import load

    return load("synthetic:nodes").frame, "the embedded synthetic fleet"


def interval_s(lf: pl.LazyFrame) -> float:
    """The samples' typical spacing per GPU (seconds), to turn sample counts into GPU-hours."""
    ts = lf.select("ts").unique().sort("ts").head(2000).collect()["ts"]
    if ts.len() < 2:
        return 60.0
    d = ts.diff().drop_nulls().dt.total_microseconds().median()
    return float(d) / 1e6 if d else 60.0  # type: ignore[arg-type]


# -- Fleet ----------------------------------------------------------------------------------------------------
def gpus_by_type_and_pool(nodes: pl.DataFrame) -> pl.DataFrame:
    cols = nodes.columns
    pool = pl.col("pool").fill_null("(no pool)") if "pool" in cols else pl.lit("(no pool)")
    return (
        nodes.filter(pl.col("num_gpus") > 0)
        .group_by(pl.col("gpu_type").fill_null("(unknown)").alias("gpu_type"), pool.alias("pool"))
        .agg(pl.col("num_gpus").sum().alias("gpus"), pl.len().alias("nodes"))
        .sort("gpus", descending=True)
    )


def fleet_timeline(lf: pl.LazyFrame, every: str = "1h") -> pl.DataFrame:
    """Per time bucket, mean over the bucket: GPUs reporting, allocated (a pod holds them), busy (utilization
    summed), idle (allocated but under 5% busy) and free (no pod)."""
    per_ts = lf.group_by("ts").agg(
        pl.len().alias("gpus"),
        pl.col("pod").is_not_null().sum().alias("allocated"),
        pl.col("util").fill_null(0.0).sum().alias("busy"),
        (pl.col("pod").is_not_null() & (pl.col("util").fill_null(0.0) < IDLE_UTIL)).sum().alias("idle"),
    )
    return (
        per_ts.sort("ts")
        .group_by_dynamic("ts", every=every)
        .agg(pl.col("gpus", "allocated", "busy", "idle").mean())
        .with_columns((pl.col("gpus") - pl.col("allocated")).alias("free"))
        .with_columns(
            (100 * pl.col("allocated") / pl.col("gpus")).alias("allocation_pct"),
            (100 * pl.col("busy") / pl.col("gpus")).alias("utilization_pct"),
        )
        .collect()
    )


def gpu_hours_by_namespace(lf: pl.LazyFrame, step_s: float, prices: PriceTable | None = None) -> pl.DataFrame:
    """GPU-hours held per namespace (team), the share of them busy and, with a price table, their cost in $ and
    the GPU-hours of types the table does not price (the cost is null then: a partial sum is not a total)."""
    f = (
        lf.filter(pl.col("pod").is_not_null())
        .group_by(
            pl.col("namespace").fill_null("(none)").alias("namespace"), pl.col("gpu_model").fill_null("(unknown)")
        )
        .agg(
            (pl.len() * step_s / 3600).alias("gpu_hours"),
            (pl.col("util").fill_null(0).sum() * step_s / 3600).alias("busy_h"),
        )
    )
    out = f.collect()
    agg = [pl.col("gpu_hours").sum(), pl.col("busy_h").sum()]
    if prices is not None:
        rates = {m: prices.rate(m) for m in out["gpu_model"].unique().to_list()}
        rate = pl.col("gpu_model").replace_strict(rates, default=None, return_dtype=pl.Float64)
        out = out.with_columns(
            (pl.col("gpu_hours") * rate).alias("cost"),
            pl.when(rate.is_null()).then(pl.col("gpu_hours")).otherwise(0.0).alias("unpriced_gpu_hours"),
        )
        agg += [
            pl.when(pl.col("cost").null_count() > 0).then(None).otherwise(pl.col("cost").sum()).alias("cost"),
            pl.col("unpriced_gpu_hours").sum(),
        ]
    return (
        out.group_by("namespace")
        .agg(agg)
        .with_columns((100 * pl.col("busy_h") / pl.col("gpu_hours")).alias("busy_pct"))
        .drop("busy_h")
        .sort("gpu_hours", descending=True)
    )


def load_prices(path: Path | None) -> PriceTable:
    """The price table (core.prices): the built-in list prices, with the user's --prices file merged over them."""
    return prices_table(path)


def stranded_from_runs(sources: Sources) -> pl.DataFrame | None:
    """Stranded (fragmented) GPUs over time from the simulation runs: free GPUs no queued job can use."""
    frames = []
    for r in run_dirs(sources):
        if run_kind(r) == "sim" and (r / "timeline.parquet").exists():
            t = pl.read_parquet(r / "timeline.parquet", columns=["t", "stranded_gpus", "allocated_gpus", "queued_jobs"])
            frames.append(t.with_columns(pl.lit(r.name).alias("run"), (pl.col("t") / 3600).alias("hours")))
    return pl.concat(frames) if frames else None


# -- Workloads ------------------------------------------------------------------------------------------------
def workloads_table(
    samples: pl.DataFrame, sizer: str = "vpa", settings: dict[str, Any] | None = None
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Requested vs used per workload, and the right-sizing recommendations (with evidence and risk)."""
    from gpufleet.optimizer.rightsizing import recommend_all

    recs, _notes = recommend_all(samples, sizer, settings=settings)
    rows = []
    for r in recs:
        rows.append(
            {
                "workload": r.workload,
                "pods": r.pods,
                "GPUs held": r.current_gpus,
                "GPUs proposed": r.proposed_gpus,
                "MIG": r.proposed_mig,
                "GPUs saved": r.gpus_saved,
                "GPU-h saved/day": r.gpu_hours_saved_per_day,
                "risk %": None if r.risk is None else 100 * r.risk,
                "GPUs busy p95": r.evidence.get("gpu_busy_p95"),
                "GPU mem p50 GiB": _gib(r.evidence.get("gpu_mem_p50")),
                "GPU mem proposed GiB": _gib(r.proposed_gpu_mem_bytes),
                "CPU now": r.cpu_current,
                "CPU target": r.cpu_target,
                "memory now GiB": _gib(r.mem_current),
                "memory target GiB": _gib(r.mem_target),
                "reason": r.reason,
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None), [r.to_dict() for r in recs]


def _gib(b: float | None) -> float | None:
    return None if b is None else b / 2**30


# -- Forecasts ------------------------------------------------------------------------------------------------
def demand_series(lf: pl.LazyFrame, every: str = "10m") -> pl.DataFrame:
    """Fleet GPU demand as SERIES: GPUs allocated and GPUs busy, per bucket."""
    t = (
        lf.group_by("ts")
        .agg(pl.col("pod").is_not_null().sum().alias("allocated"), pl.col("util").fill_null(0).sum().alias("busy"))
        .sort("ts")
        .group_by_dynamic("ts", every=every)
        .agg(pl.col("allocated", "busy").mean())
        .collect()
    )
    return pl.concat(
        [
            t.select(
                pl.lit("fleet: GPUs allocated").alias("unique_id"),
                pl.col("ts").alias("ds"),
                pl.col("allocated").alias("y"),
            ),
            t.select(
                pl.lit("fleet: GPUs busy").alias("unique_id"), pl.col("ts").alias("ds"), pl.col("busy").alias("y")
            ),
        ]
    ).with_columns(pl.col("y").cast(pl.Float64))


def forecast(
    series: pl.DataFrame, model: str, h: int, step_s: float, settings: dict[str, Any] | None = None
) -> pl.DataFrame:
    """`model` with `settings` (from the page's widgets) fitted on `series`: h steps, 80% and 95% intervals."""
    from gpufleet.plan.policies import registry

    kw: dict[str, Any] = {"step_s": step_s}
    if model == "seasonal-naive":
        kw["season_length"] = max(1, round(86400 / step_s))
    return registry("forecaster").build(model, kw | (settings or {})).fit(series).predict(h, levels=[80, 95])


def backtests(sources: Sources) -> dict[str, pl.DataFrame]:
    """The backtest tables the demo recorded (runtime predictors and demand forecasters)."""
    demo = demo_dir(sources)
    if demo is None:
        return {}
    s = read_summary(demo)
    out = {}
    for key, name in (("runtime_backtest", "runtime predictors"), ("demand_backtest", "demand forecasters")):
        if s.get(key):
            out[name] = pl.DataFrame(s[key], infer_schema_length=None)
    return out


# -- What-if --------------------------------------------------------------------------------------------------
def sim_summary_row(s: Summary) -> dict[str, Any]:
    return {
        "scheduler": s.scheduler,
        "placement": s.placement,
        "predictor": s.predictor,
        "GPUs": s.cluster_gpus,
        "avg JCT": human_seconds(s.avg_jct_s),
        "p95 wait": human_seconds(s.p95_wait_s),
        "avg wait": human_seconds(s.avg_wait_s),
        "allocation %": 100 * s.avg_gpu_allocation,
        "GPU-hours": s.gpu_hours,
        "unfinished": s.unfinished,
        "unschedulable": s.unschedulable,  # no node of the job's GPU type (or size): never started
    }


# -- Autoscaling ----------------------------------------------------------------------------------------------
def serving_runs(sources: Sources) -> list[tuple[Path, ServingSummary]]:
    """Every serving replay under --runs, with its typed summary."""
    dirs = [r for r in run_dirs(sources) if run_kind(r) == "serving"]
    return [(r, load(read_summary(r), r / "summary.json", ServingSummary)) for r in dirs]


def serving_table(runs: list[tuple[Path, ServingSummary]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "run": r.name,
                "policy": s.policy,
                "GPU-hours": s.gpu_hours,
                "SLO": s.slo,
                "SLO attainment %": 100 * s.slo_attainment,
                "SLO met": s.slo_met,
                "TTFT p99": human_seconds(s.ttft_p99_s),
                "scaling actions": s.scaling_actions,
            }
            for r, s in runs
        ]
    )
