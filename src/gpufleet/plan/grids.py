"""Grids of replays: every (scheduler, placement) pair of one workload and cluster, in worker processes (one
per core by default) or, with `ray_address`, as Ray tasks (`pip install gpufleet[ray]`). Each run is
independent and seeded, so a grid's results do not depend on where or in which order its runs execute."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.plan.rundirs import save
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.summary import Summary

T = TypeVar("T")


def _one(args: tuple[pl.DataFrame, pl.DataFrame, dict[str, Any], str | None, dict[str, Any]]) -> Summary:
    jobs, nodes, cfg, out, extra = args
    res = simulate(jobs, nodes, SimConfig(**cfg))
    if out:
        save(res, Path(out), extra)
    return res.summary


def run_grid(
    jobs: pl.DataFrame,
    nodes: pl.DataFrame,
    base: SimConfig,
    schedulers: Sequence[str | dict[str, Any]],
    placements: Sequence[str | dict[str, Any]],
    out: Path | None,
    extra: dict[str, Any],
    workers: int | None = None,
    ray_address: str | None = None,
) -> list[Summary]:
    """Every (scheduler, placement) pair, each a name or {name, settings}; one summary per pair, in grid order."""
    tasks = []
    for s in schedulers:
        for p in placements:
            # validated here: a bad name or setting fails before any worker starts; the compat preset is laid
            # over each pair's scheduler (base.compat)
            cfg = SimConfig(**(base.model_dump() | {"scheduler": s, "placement": p}))
            where = str(out / f"{cfg.scheduler.name}__{cfg.placement.name}") if out else None
            tasks.append((jobs, nodes, cfg.model_dump(), where, extra))
    if ray_address:
        return _ray(tasks, ray_address)
    return map_tasks(_one, tasks, workers)


def map_tasks(fn: Callable[[Any], T], tasks: list[Any], workers: int | None) -> list[T]:
    """fn over tasks, in order: in this process for one worker, else in spawned worker processes."""
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(t) for t in tasks]
    # spawn, not fork: forking a process that has started polars' thread pool can deadlock the child
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, tasks))


def _ray(tasks: list[Any], address: str) -> list[Summary]:
    try:
        import ray
    except ImportError:
        raise GpufleetError("--ray needs the optional extra: pip install 'gpufleet[ray]'") from None
    ray.init(address=address, ignore_reinit_error=True)
    remote = ray.remote(_one)
    return list(ray.get([remote.remote(t) for t in tasks]))
