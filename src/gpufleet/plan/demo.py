"""The main job (`gpufleet demo`, `make run`): the built-in synthetic fleet and workload, end to end.

It generates, validates and profiles the synthetic fleet, jobs, requests and GPU telemetry, writes them
as a run directory, then replays the jobs on the fleet under several scheduling and placement policies
(one run directory each under `sim/`) and compares them. It backtests the runtime predictors on the
last 20% of the jobs (by time) and replays SJF with the LightGBM predictor; and it backtests demand
forecasters on the fleet's GPU utilization and writes a 6-hour forecast. The optimizer extends it next.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from rich.progress import Progress

from gpufleet import __version__
from gpufleet.core.prices import PriceTable, default_prices
from gpufleet.core.schemas import GPU_SAMPLES, JOBS, NODES, REQUESTS, Table, validate
from gpufleet.forecasting.runtime.backtest import backtest_runtime
from gpufleet.forecasting.series import FORECASTERS, backtest_series
from gpufleet.optimizer.rightsizing import recommend_all
from gpufleet.plan.dollars import price_rightsizing
from gpufleet.plan.rundirs import save
from gpufleet.report.rundir import write_run
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.serving import ServingConfig, simulate_serving
from gpufleet.traces.describe import profile
from gpufleet.traces.synthetic import (
    synthetic_gpu_samples,
    synthetic_jobs,
    synthetic_nodes,
    synthetic_requests,
)
from gpufleet.traces.synthetic.config import DemoConfig

SERVING_POLICIES = ("target-tracking", "predictive", "oracle")


def run_demo(
    out_dir: Path, *, seed: int = 7, progress: bool = True, prices: PriceTable | None = None
) -> dict[str, Any]:
    """Generate and validate the synthetic data, write `out_dir`, return the summary; every GPU-hour is priced
    by `prices` (the built-in list prices when None)."""
    prices = prices or default_prices()
    cfg = DemoConfig.with_seed(seed, out_dir=str(out_dir))
    steps: list[tuple[str, Table, Callable[[], pl.DataFrame]]] = [
        ("nodes", NODES, lambda: synthetic_nodes(cfg.nodes)),
        ("jobs", JOBS, lambda: synthetic_jobs(cfg.jobs)),
        ("requests", REQUESTS, lambda: synthetic_requests(cfg.requests)),
        ("gpu_samples", GPU_SAMPLES, lambda: synthetic_gpu_samples(cfg.samples, tables["nodes"])),
    ]
    tables: dict[str, pl.DataFrame] = {}
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("demo", total=len(steps) + len(cfg.policies) + 5)
        for name, tbl, make in steps:
            bar.update(task, description=f"generating {name}")
            tables[name] = validate(make(), tbl)
            bar.advance(task)
        runs = []
        for sched, place, pred in cfg.policies:
            bar.update(task, description=f"simulating {sched} + {place}")
            res = simulate(
                tables["jobs"],
                tables["nodes"],
                SimConfig(scheduler=sched, placement=place, predictor=pred, seed=seed),
                prices=prices,
            )
            name = f"{sched}__{place}" + (f"__{pred}" if res.summary.predictor != "none" else "")
            save(res, out_dir / "sim" / name, {"jobs": "synthetic:jobs", "cluster": "synthetic:nodes"})
            runs.append(res.summary)
            bar.advance(task)
        bar.update(task, description="backtesting runtime predictors")
        runtime = backtest_runtime(
            tables["jobs"], ["user-history", "gpu-class", "lightgbm", "xgb-aft", "auto", "oracle"], test_frac=0.2
        )
        bar.advance(task)
        bar.update(task, description="forecasting GPU demand")
        demand = fleet_utilization(tables["gpu_samples"])
        series_bt = backtest_series(
            demand, ["naive-last", "window-mean", "seasonal-naive", "lightgbm"], h=6, n_origins=6
        )
        forecast = FORECASTERS.build("lightgbm", {"step_s": 600.0, "horizon": 36}).fit(demand).predict(36, [80, 95])
        tables["forecast"] = forecast
        bar.advance(task)
        bar.update(task, description="right-sizing the fleet's workloads")
        recs, rs_notes = recommend_all(tables["gpu_samples"], "vpa")
        rs_rows = [r.to_dict() for r in recs]
        rs_notes |= price_rightsizing(rs_rows, prices)
        bar.advance(task)
        serving = []
        for policy in SERVING_POLICIES:
            bar.update(task, description=f"replaying requests under {policy}")
            served = simulate_serving(tables["requests"], ServingConfig(policy=policy))
            served.summary = served.summary.priced(prices)
            write_run(
                out_dir / "serving" / policy,
                summary=served.summary.with_actions(served.actions),
                config={
                    "command": "demo",
                    "requests": "synthetic:requests",
                    **ServingConfig(policy=policy).model_dump(),
                },
                tables={"requests": served.requests, "timeline": served.timeline},
            )
            serving.append(served.summary.dump())
        bar.advance(task)
        bar.update(task, description="writing run directory")
        summary: dict[str, Any] = {
            "gpufleet_version": __version__,
            "kind": "demo",
            "seed": seed,
            "rows": {k: v.height for k, v in tables.items()},
            "profiles": {k: profile(tables[k], t.name) for k, t, _ in steps},
            "simulations": [{k: v for k, v in r.dump().items() if k != "wall_s"} for r in runs],
            "runtime_backtest": runtime.drop("fit_s", "predict_s").to_dicts(),
            "demand_backtest": series_bt.drop("fit_s", "predict_s").to_dicts(),
            "rightsizing": {**rs_notes, "recommendations": rs_rows},
            "serving": serving,
            "demand_forecast": {
                "series": "fleet mean GPU utilization, 10-minute steps",
                "h": 36,
                "first": forecast.head(1).to_dicts()[0] | {"ds": str(forecast["ds"][0])},
            },
        }
        files = write_run(
            out_dir,
            summary=summary | {"files": _names(tables)},
            config=cfg.model_dump(mode="json"),
            tables=tables,
        )
        bar.advance(task)
    from gpufleet.report.html import write_report

    report = write_report(
        [out_dir], out_dir / "report.html", f"gpufleet report --run {out_dir} --out {out_dir}/report.html", prices
    )
    summary["files"] = [p.name for p in files] + [report.name]
    return summary


def fleet_utilization(samples: pl.DataFrame) -> pl.DataFrame:
    """Mean GPU utilization of the whole fleet every 10 minutes, as a SERIES frame."""
    return (
        samples.filter(pl.col("util").is_not_null())
        .sort("ts")
        .group_by_dynamic("ts", every="10m")
        .agg(pl.col("util").mean().alias("y"))
        .select(pl.lit("fleet-util").alias("unique_id"), pl.col("ts").alias("ds"), "y")
    )


def _names(tables: dict[str, pl.DataFrame]) -> list[str]:
    return [f"{n}.parquet" for n in tables] + ["config.yaml", "summary.json"]
