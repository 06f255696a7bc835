"""The main job (`gpufleet demo`, `make run`): the built-in synthetic fleet and workload, end to end.

It generates, validates and profiles the synthetic fleet, jobs, requests and GPU telemetry, writes them
as a run directory, then replays the jobs on the fleet under several scheduling and placement policies
(one run directory each under `sim/`) and compares them. Forecasting and the optimizer extend it next.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from rich.progress import Progress

from gpufleet import __version__
from gpufleet.core.config import DemoConfig
from gpufleet.core.schemas import GPU_SAMPLES, JOBS, NODES, REQUESTS, Table, validate
from gpufleet.experiments import save
from gpufleet.report.rundir import write_run
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.traces.describe import profile
from gpufleet.traces.synthetic import (
    synthetic_gpu_samples,
    synthetic_jobs,
    synthetic_nodes,
    synthetic_requests,
)


def run_demo(out_dir: Path, *, seed: int = 7, progress: bool = True) -> dict[str, Any]:
    """Generate and validate the synthetic data, write `out_dir`, return the summary."""
    cfg = DemoConfig.with_seed(seed, out_dir=str(out_dir))
    steps: list[tuple[str, Table, Callable[[], pl.DataFrame]]] = [
        ("nodes", NODES, lambda: synthetic_nodes(cfg.nodes)),
        ("jobs", JOBS, lambda: synthetic_jobs(cfg.jobs)),
        ("requests", REQUESTS, lambda: synthetic_requests(cfg.requests)),
        ("gpu_samples", GPU_SAMPLES, lambda: synthetic_gpu_samples(cfg.samples, tables["nodes"])),
    ]
    tables: dict[str, pl.DataFrame] = {}
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("demo", total=len(steps) + len(cfg.policies) + 1)
        for name, tbl, make in steps:
            bar.update(task, description=f"generating {name}")
            tables[name] = validate(make(), tbl)
            bar.advance(task)
        runs = []
        for sched, place, pred in cfg.policies:
            bar.update(task, description=f"simulating {sched} + {place}")
            res = simulate(
                tables["jobs"], tables["nodes"], SimConfig(scheduler=sched, placement=place, predictor=pred, seed=seed)
            )
            save(res, out_dir / "sim" / f"{sched}__{place}", {"jobs": "synthetic:jobs", "cluster": "synthetic:nodes"})
            runs.append(res.summary)
            bar.advance(task)
        bar.update(task, description="writing run directory")
        summary: dict[str, Any] = {
            "gpufleet_version": __version__,
            "kind": "demo",
            "seed": seed,
            "rows": {k: v.height for k, v in tables.items()},
            "profiles": {k: profile(v, t.name) for (k, t, _), v in zip(steps, tables.values(), strict=True)},
            "simulations": [{k: v for k, v in r.items() if k != "wall_s"} for r in runs],
        }
        files = write_run(
            out_dir,
            summary=summary | {"files": _names(tables)},
            config=cfg.model_dump(mode="json"),
            tables=tables,
        )
        bar.advance(task)
    summary["files"] = [p.name for p in files]
    return summary


def _names(tables: dict[str, pl.DataFrame]) -> list[str]:
    return [f"{n}.parquet" for n in tables] + ["config.yaml", "summary.json"]
