"""The capacity question as the edges ask it (`gpufleet plan capacity`, the What-if page): names and texts in,
the answer and the question it answers out, as one dict (what `--json` prints and the page shows)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import PriceTable
from gpufleet.plan.capacity import CapacityQuestion, check_candidates, plan_capacity
from gpufleet.plan.capacity_probe import parse_target
from gpufleet.plan.growth import forecast_growth, scale_arrivals
from gpufleet.plan.references import load_cluster
from gpufleet.sim.cluster_spec import is_spec, parse_spec
from gpufleet.sim.run import SimConfig


def ask_capacity(
    jobs: pl.DataFrame,
    *,
    fleet: str | None,
    add: list[str],
    target: str,
    cfg: SimConfig | dict[str, Any],
    prices: PriceTable,
    growth: float = 1.0,
    forecaster: str | None = None,
    per_node: int = 8,
    max_nodes: int = 512,
    ignore_unschedulable: bool = False,
    data_dir: str | Path | None = None,
    jobs_ref: str = "",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """{question, answer...}: the cheapest addition to `fleet` (a spec or NODES reference; None: the whole
    fleet from scratch) of the `add` types meeting `target` ('p95_wait<=1h'); arrivals grown by `growth`, or by
    the factor `forecaster` projects when one is named."""
    goal = parse_target(target)
    cands = check_candidates(add, prices)
    sim = cfg if isinstance(cfg, SimConfig) else SimConfig(**cfg)
    base_spec, base_nodes = None, None
    if fleet is not None and fleet.strip():
        fleet = fleet.strip()
        if is_spec(fleet):
            parse_spec(fleet)  # a bad spec fails now, in one line
            base_spec = fleet
        else:
            base_nodes = load_cluster(fleet, data_dir)
            if base_nodes.height == 0:
                raise GpufleetError(f"--fleet {fleet}: no nodes")
    else:
        fleet = None
    grown: dict[str, Any] = {"factor": growth, "how": "given"}
    if forecaster is not None:
        grown = forecast_growth(jobs, forecaster) | {"how": "forecast"}
    jobs = scale_arrivals(jobs, float(grown["factor"]))
    q = CapacityQuestion(
        jobs=jobs,
        candidates=cands,
        target=goal,
        cfg=sim,
        prices=prices,
        base_spec=base_spec,
        base_nodes=base_nodes,
        base_label=fleet or "",
        per_node=per_node,
        max_nodes=max_nodes,
        ignore_unschedulable=ignore_unschedulable,
    )
    res = plan_capacity(q, workers=workers, ray_address=ray_address, progress=progress)
    question = {
        "jobs": jobs_ref,
        "job_count": jobs.height,
        "fleet": fleet,
        "from_scratch": fleet is None,
        "add": cands,
        "target": goal.text(),
        "target_s": goal.limit_s,
        "per_node": per_node,
        "max_nodes": max_nodes,
        "scheduler": sim.scheduler.model_dump(),
        "placement": sim.placement.model_dump(),
        "predictor": sim.predictor.model_dump(),
        "speeds": sim.speeds,
        "speed_factors": res.get("speed_factors"),
        "growth": grown,
        "prices": prices.priced_by(),
        "ignore_unschedulable": ignore_unschedulable,
    }
    # the report's executive summary reads `answer`, `usd_per_month`, `target_met` and `prices` (report/summary.py)
    return {"question": question, "prices": prices.priced_by()} | res
