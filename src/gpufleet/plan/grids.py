"""Grids of replays: every (scheduler, placement) pair of one workload and cluster, in worker processes (one
per core by default) or, with `ray_address`, as Ray tasks (`pip install gpufleet[ray]`; "local" starts a Ray
runtime on this machine for the call, any other address joins that cluster). Each run is independent and
seeded, so a grid's results do not depend on where or in which order its runs execute. The capacity search
and the tenancy comparison map their replays through `map_tasks` the same way."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
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
    return map_tasks(_one, tasks, workers, ray_address)


def map_tasks(fn: Callable[[Any], T], tasks: list[Any], workers: int | None, ray_address: str | None = None) -> list[T]:
    """fn over tasks, in order: as Ray tasks given `ray_address`, else in this process for one worker, else in
    spawned worker processes. `fn` must be a module-level function (the workers import it by name)."""
    if ray_address:
        return _on_ray(fn, tasks, ray_address, workers)
    open_pool = _POOL.get()
    if open_pool is not None:  # inside worker_pool: its processes serve this round too
        return list(open_pool.map(fn, tasks))
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(t) for t in tasks]
    with _spawned(workers) as pool:
        return list(pool.map(fn, tasks))


# The worker pool of an open `worker_pool` block, which map_tasks uses instead of spawning its own.
_POOL: ContextVar[ProcessPoolExecutor | None] = ContextVar("gpufleet_worker_pool", default=None)


def _spawned(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: forking a process that has started polars' thread pool can deadlock the child
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


@contextmanager
def worker_pool(workers: int | None) -> Iterator[None]:
    """One set of worker processes for every map_tasks call in the block (a search of many rounds spawns its
    workers, and they import polars and the simulator, once instead of once per round). One worker, or an
    already open pool: nothing is started."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or _POOL.get() is not None:
        yield
        return
    with _spawned(workers) as pool:
        token = _POOL.set(pool)
        try:
            yield
        finally:
            _POOL.reset(token)


LOCAL = "local"


@contextmanager
def ray_runtime(address: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray for the duration of the block: "local" starts a runtime on this machine (`num_cpus` CPUs, default
    all) and stops it after, with every process it started; another address ("auto", "HOST:6379",
    "ray://HOST:10001") joins that cluster and leaves it after. Inside an open runtime (an outer block, or a
    driver that called ray.init itself) the block uses it and leaves it running, so a search of many rounds
    starts Ray once."""
    try:
        import ray
    except ImportError:
        raise GpufleetError("--ray needs the optional extra: pip install 'gpufleet[ray]'") from None
    if ray.is_initialized():
        yield ray
        return
    local = address == LOCAL
    try:
        ray.init(
            address=address,  # "local" always starts a new runtime, whatever RAY_ADDRESS says
            num_cpus=(num_cpus or os.cpu_count() or 1) if local else None,
            include_dashboard=False if local else None,
            log_to_driver=False,  # a worker's log lines are not the command's output
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = "a local Ray runtime could not start" if local else f"cannot join the Ray cluster at {address}"
        raise GpufleetError(f"--ray {address}: {where} ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    try:
        yield ray
    finally:
        ray.shutdown()  # a local runtime: its raylet, GCS and workers stop; a cluster: this driver disconnects


def _call(fn: Callable[[Any], T], spread: bool, *parts: Any) -> T:
    return fn(parts if spread else parts[0])


def _on_ray(fn: Callable[[Any], T], tasks: list[Any], address: str, num_cpus: int | None) -> list[T]:
    """fn over tasks as Ray tasks, in order. A tuple task goes as separate arguments so that Ray resolves each
    one; a frame shared by many tasks (the workload, the nodes) is put in the object store once, not copied
    into every task."""
    with ray_runtime(address, num_cpus) as ray:
        shared: dict[int, Any] = {}

        def ref(x: Any) -> Any:
            if isinstance(x, pl.DataFrame):
                if id(x) not in shared:
                    shared[id(x)] = ray.put(x)
                return shared[id(x)]
            return x

        remote = ray.remote(_call)
        spread = [isinstance(t, tuple) for t in tasks]
        futures = [remote.remote(fn, s, *map(ref, t if s else (t,))) for t, s in zip(tasks, spread, strict=True)]
        try:
            return list(ray.get(futures))
        except ray.exceptions.RayTaskError as e:  # the task's own error, as the process pool raises it (one line)
            raise (e.cause if isinstance(e.cause, Exception) else e) from None
