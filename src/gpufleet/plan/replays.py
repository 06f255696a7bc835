"""Training replays as the edges ask for them: one run (plain, or behind a tenancy file's VCs or queues), one
run by policy names on a cluster reference, and the pooled / partitioned / quota comparison.

`gpufleet simulate` and `gpufleet tenancy` and the dashboard's what-if page call these instead of composing the
simulator themselves, so the rule that picks the tenancy model (queues: quota, VCs: partitioned) and the
even split of nodes over teams each live once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.plan.grids import map_tasks
from gpufleet.plan.references import load_cluster
from gpufleet.sim.run import SimConfig, SimResult, simulate
from gpufleet.sim.tenancy import MODELS, TenancySpec, compare, run_model

__all__ = ["TENANCY_MODELS", "TenancySpec", "compare_tenancy", "even_vcs", "replay", "replay_by_names"]

if TYPE_CHECKING:
    from gpufleet.sim.summary import Summary

TENANCY_MODELS = ("pooled", "partitioned", "quota")


def replay(jobs: pl.DataFrame, nodes: pl.DataFrame, cfg: SimConfig, tenancy: TenancySpec | None = None) -> SimResult:
    """One replay: on the whole cluster, or, given a tenancy file, behind its queues' quotas (when it has
    queues) or partitioned into its VCs."""
    if tenancy is None:
        return simulate(jobs, nodes, cfg)
    return run_model("quota" if tenancy.queues else "partitioned", jobs, nodes, tenancy, cfg)


def replay_by_names(
    jobs: pl.DataFrame,
    cluster: str,
    scheduler: str,
    placement: str,
    predictor: str = "oracle",
    data_dir: str | Path | None = None,
) -> Summary:
    """The summary of one plain replay of `jobs` on `cluster` (a spec or NODES reference) under the named
    members with their default settings."""
    cfg = SimConfig(scheduler=scheduler, placement=placement, predictor=predictor)
    return simulate(jobs, load_cluster(cluster, data_dir), cfg).summary


def even_vcs(jobs: pl.DataFrame, n_nodes: int) -> dict[str, int]:
    """Nodes per team when none are given: the nodes split evenly over the workload's teams (`group`), as many
    teams as get at least one node."""
    teams = sorted(jobs["group"].drop_nulls().unique().to_list()) if "group" in jobs.columns else []
    share = max(1, n_nodes // max(1, len(teams)))
    return {t: share for t in teams[: n_nodes // share]}


def compare_tenancy(
    jobs: pl.DataFrame,
    nodes: pl.DataFrame,
    spec: TenancySpec,
    models: list[str] | tuple[str, ...] = TENANCY_MODELS,
    cfg: SimConfig | None = None,
    workers: int | None = 1,
    ray_address: str | None = None,
) -> dict[str, SimResult]:
    """Every tenancy model on the same workload and nodes (jobs without a team are the team "(none)"), in this
    process by default, side by side in `workers` processes, or as Ray tasks given `ray_address`."""
    cfg = cfg or SimConfig()
    if (workers == 1 and not ray_address) or len(models) < 2:
        return compare(jobs, nodes, spec, list(models), cfg)
    unknown = [m for m in models if m not in MODELS]
    if unknown:  # before any worker starts
        raise GpufleetError(f"--compare: unknown model {unknown[0]!r}; valid: {', '.join(MODELS)}")
    tasks = [(jobs, nodes, spec, m, cfg) for m in models]
    return dict(zip(models, map_tasks(_one_model, tasks, workers, ray_address), strict=True))


def _one_model(task: tuple[pl.DataFrame, pl.DataFrame, TenancySpec, str, SimConfig]) -> SimResult:
    jobs, nodes, spec, model, cfg = task
    return compare(jobs, nodes, spec, [model], cfg)[model]
