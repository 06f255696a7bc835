"""Edge wiring for simulations: resolve references, run one replay or a grid of them, write run directories.

The grid runs in worker processes (one per core by default) or, with `ray_address`, as Ray tasks
(`pip install gpufleet[ray]`). Each run is independent and seeded, so the grid's results do not depend
on where or in which order its runs execute.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl

from gpufleet.collector.store import Store, is_store
from gpufleet.core.errors import GpufleetError
from gpufleet.forecasting.runtime import make_predictor
from gpufleet.report.rundir import write_run
from gpufleet.sim.cluster_spec import is_spec, parse_spec
from gpufleet.sim.run import SimConfig, SimResult, simulate
from gpufleet.traces import load

T = TypeVar("T")


def load_jobs(ref: str, data_dir: str | Path | None, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """A JOBS frame from a reference (synthetic references take generator parameters) or a collector store."""
    if is_store(ref):
        jobs = Store(ref).read("JOBS")
        if jobs.height == 0:
            raise GpufleetError(f"{ref}: the store holds no jobs yet (gpufleet collect prometheus --jobs ...)")
        return jobs
    tr = load(ref, data_dir, expect="JOBS", **(params or {}))
    if tr.meta.table != "JOBS":
        raise GpufleetError(
            f"--jobs {ref!r} is a {tr.meta.table} table; a JOBS reference is needed (e.g. itp:cluster04)"
        )
    return tr.frame


def load_cluster(text: str, data_dir: str | Path | None) -> pl.DataFrame:
    """A NODES frame from a spec (`64x8:A100,32x8:V100`), a reference (`openb:nodes`) or a collector store
    (the node capacity kube-state-metrics reported)."""
    if is_spec(text):
        return parse_spec(text)
    if is_store(text):
        nodes = Store(text).read("NODES")
        if nodes.height == 0:
            raise GpufleetError(f"{text}: the store holds no nodes yet (gpufleet collect prometheus --jobs ...)")
        return nodes
    tr = load(text, data_dir, expect="NODES")
    if tr.meta.table != "NODES":
        raise GpufleetError(
            f"--cluster {text!r} is a {tr.meta.table} table; give a spec like 64x8:V100 or a NODES"
            " reference (openb:nodes, pai:machines, spot:nodes)"
        )
    return tr.frame


def save(result: SimResult, out: Path, extra_config: dict[str, Any]) -> list[Path]:
    """Write a run directory."""
    return write_run(
        out,
        summary=result.summary,
        config=result.config | extra_config,
        tables={"jobs": result.jobs, "timeline": result.timeline}
        | ({"groups": result.groups} if result.groups is not None else {}),
    )


def _one(args: tuple[pl.DataFrame, pl.DataFrame, dict[str, Any], str | None, dict[str, Any]]) -> dict[str, Any]:
    jobs, nodes, cfg, out, extra = args
    res = simulate(jobs, nodes, SimConfig(**cfg))
    if out:
        save(res, Path(out), extra)
    return res.summary


def run_grid(
    jobs: pl.DataFrame,
    nodes: pl.DataFrame,
    base: SimConfig,
    schedulers: list[str],
    placements: list[str],
    out: Path | None,
    extra: dict[str, Any],
    workers: int | None = None,
    ray_address: str | None = None,
) -> list[dict[str, Any]]:
    """Every (scheduler, placement) pair; one summary per pair, in grid order."""
    tasks = []
    for s in schedulers:
        for p in placements:
            cfg = base.model_copy(update={"scheduler": s, "placement": p}).model_dump()
            SimConfig(**cfg)  # fail fast on a bad name before any worker starts
            tasks.append((jobs, nodes, cfg, str(out / f"{s}__{p}") if out else None, extra))
    if ray_address:
        return _ray(tasks, ray_address)
    return _map(_one, tasks, workers)


def _map(fn: Callable[[Any], T], tasks: list[Any], workers: int | None) -> list[T]:
    """fn over tasks, in order: in this process for one worker, else in spawned worker processes."""
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(t) for t in tasks]
    # spawn, not fork: forking a process that has started polars' thread pool can deadlock the child
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, tasks))


def _ray(tasks: list[Any], address: str) -> list[dict[str, Any]]:
    try:
        import ray  # type: ignore[import-not-found]
    except ImportError:
        raise GpufleetError("--ray needs the optional extra: pip install 'gpufleet[ray]'") from None
    ray.init(address=address, ignore_reinit_error=True)
    remote = ray.remote(_one)
    return list(ray.get([remote.remote(t) for t in tasks]))


def auto_cluster(jobs: pl.DataFrame, load: float = 0.95, per_node: int = 8) -> str:
    """A V100 cluster spec sized so the trace's mean GPU demand is `load` of it (ITP/Philly give no sizes)."""
    import math

    span = float(jobs["submit_time"].max() - jobs["submit_time"].min()) or 1.0  # type: ignore[operator]
    demand = float((jobs["duration"].fill_null(0) * jobs["num_gpus"]).sum()) / span
    return f"{max(1, math.ceil(demand / load / per_node))}x{per_node}:V100"


NUDGE_SD = 0.01  # log-scale s.d. of the nudges: 1%, far below any runtime model's own error


def nudge(preds: pl.DataFrame, seed: int, sd: float = NUDGE_SD) -> pl.DataFrame:
    """Runtime predictions (p10, p50, p90) each multiplied by exp(N(0, sd)), one draw per job, seeded."""
    k = pl.Series(np.exp(np.random.default_rng(seed).normal(0.0, sd, preds.height)))
    return preds.with_columns(*(pl.col(c) * k for c in ("p10", "p50", "p90")))


DEFAULT_NUDGES = 5  # one non-preemptive replay can move several points under a 1% nudge: report a mean


def _replay(args: tuple[pl.DataFrame, pl.DataFrame, dict[str, Any], pl.DataFrame | None]) -> float:
    jobs, nodes, cfg, preds = args
    return float(simulate(jobs, nodes, SimConfig(**cfg), predictions=preds).summary["avg_jct_s"])


def downstream(
    jobs: pl.DataFrame,
    nodes: pl.DataFrame,
    predictors: list[str],
    schedulers: tuple[str, ...] = ("sjf", "qssf"),
    nudges: int = DEFAULT_NUDGES,
    fixed: bool = False,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Average JCT of each prediction-driven scheduler with each predictor, beside FIFO and the oracle.

    Per scheduler: a `fifo` row (no prediction: the floor any predictor must beat), an `oracle` row (true
    durations: the ceiling), and one row per predictor with waiting jobs refreshed from their submission
    mates (the default), plus, with `fixed`, predictions fixed at submission. Each predictor row is also
    replayed `nudges` times with every prediction multiplied by exp(N(0, 0.01)) (seeds 1..nudges): one
    non-preemptive replay's JCT can move by several points under such a nudge (which long job grabs a node
    first cascades), so the nudged mean is the figure to compare and its min..max the noise band.
    `gain_captured` = (FIFO - predictor) / (FIFO - oracle) in average JCT (nudged mean when nudged): the
    share of what perfect knowledge of runtimes would gain over FIFO that this predictor gets."""
    preds = {p: make_predictor(p).predict(jobs) for p in predictors if p != "oracle"}  # one causal pass each
    tasks: list[Any] = []
    keys: list[tuple[str, str, str, int]] = []
    tasks.append((jobs, nodes, SimConfig(scheduler="fifo").model_dump(), None))
    keys.append(("fifo", "fifo", "-", 0))
    for s in schedulers:
        tasks += [(jobs, nodes, SimConfig(scheduler=s, predictor="oracle").model_dump(), None)]
        keys.append((s, "oracle", "-", 0))
        for p, pr in preds.items():
            for gap, label in [(SimConfig().mate_gap_s, "refreshed")] + ([(0.0, "fixed")] if fixed else []):
                cfg = SimConfig(scheduler=s, predictor=p, mate_gap_s=gap).model_dump()
                for seed in range(nudges + 1):
                    tasks.append((jobs, nodes, cfg, pr if seed == 0 else nudge(pr, seed)))
                    keys.append((s, p, label, seed))
    jct = dict(zip(keys, _map(_replay, tasks, workers), strict=True))
    rows: list[dict[str, Any]] = []
    for s in schedulers:
        fifo, oracle = jct[("fifo", "fifo", "-", 0)], jct[(s, "oracle", "-", 0)]
        span = fifo - oracle
        rows.append(_row(s, "fifo", "-", fifo, oracle, [], fifo, span))
        rows.append(_row(s, "oracle", "-", oracle, oracle, [], fifo, span))
        for p in preds:
            for label in ["refreshed"] + (["fixed"] if fixed else []):
                nudged = [jct[(s, p, label, k)] for k in range(1, nudges + 1)]
                rows.append(_row(s, p, label, jct[(s, p, label, 0)], oracle, nudged, fifo, span))
    return rows


def _row(
    s: str, p: str, mates: str, jct: float, oracle: float, nudged: list[float], fifo: float, span: float
) -> dict[str, Any]:
    """One downstream row: the single replay, the nudged mean and range (as ratios to the oracle), the gain."""
    r = [x / oracle for x in nudged] if oracle else []
    figure = float(np.mean(nudged)) if nudged else jct
    return {
        "scheduler": s,
        "predictor": p,
        "mates": mates,
        "avg_jct_s": jct,
        "vs_oracle": jct / oracle if oracle else None,
        "nudged_mean": float(np.mean(r)) if r else None,
        "nudged_min": min(r) if r else None,
        "nudged_max": max(r) if r else None,
        # the share of FIFO's excess over the oracle that this row removes (1 = all of it)
        "gain_captured": (fifo - figure) / span if span > 0 else None,
    }


def natural_step(horizon_s: float, native_s: float) -> float:
    """The grid a horizon calls for: 1 min up to 30 min ahead, 10 min up to 6 h, else 1 h (never finer than
    the data's own step)."""
    step = 60.0 if horizon_s <= 1800 else 600.0 if horizon_s <= 6 * 3600 else 3600.0
    return max(step, native_s)


def load_requests(ref: str, data_dir: str | Path | None, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """A REQUESTS frame from a reference (azure-llm:conv, genai:requests, synthetic:requests)."""
    tr = load(ref, data_dir, expect="REQUESTS", **(params or {}))
    if tr.meta.table != "REQUESTS":
        raise GpufleetError(
            f"--requests {ref!r} is a {tr.meta.table} table; a REQUESTS reference is needed (e.g. azure-llm:conv)"
        )
    return tr.frame


def load_samples(ref: str, data_dir: str | Path | None, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """A GPU_SAMPLES frame from a reference (genai:gpu, synthetic:gpu-samples), a collector store directory,
    or a Parquet/CSV file of canonical GPU_SAMPLES columns."""
    path = Path(ref)
    if is_store(path):
        return Store(path).read("GPU_SAMPLES")
    tr = load(ref, data_dir, expect="GPU_SAMPLES", **(params or {}))
    if tr.meta.table != "GPU_SAMPLES":
        raise GpufleetError(
            f"--samples {ref!r} is a {tr.meta.table} table; a GPU_SAMPLES reference is needed (e.g. genai:gpu)"
        )
    return tr.frame


def load_series(
    ref: str,
    data_dir: str | Path | None,
    *,
    ids: list[str] | None = None,
    top: int | None = None,
    value: str = "util",
    params: dict[str, Any] | None = None,
) -> tuple[pl.DataFrame, str]:
    """A SERIES frame from any reference, and a note on how it was made.

    SERIES parts (and a store's per-workload SERIES) are used as they are; GPU_SAMPLES (a store without
    SERIES) become one series per GPU (or pod) of `value`; REQUESTS
    become the request rate per model at 1-minute resolution. `ids` keeps those series, `top` the busiest.
    """
    if is_store(ref):  # a collector store: its per-workload series, else one series per GPU
        f, table = Store(ref).read("SERIES"), "SERIES"
        if f.height == 0:
            f, table = Store(ref).read("GPU_SAMPLES"), "GPU_SAMPLES"
        if f.height == 0:
            raise GpufleetError(f"{ref}: the store holds no series or GPU samples yet")
    else:
        from gpufleet.traces.userfile import is_user_file

        # a file of one's own may hold any of the three tables: its columns (or --map's table:) say which
        tr = load(ref, data_dir, expect=None if is_user_file(ref) else "SERIES", **(params or {}))
        f, table = tr.frame, tr.meta.table
    note = f"{ref} ({table})"
    if table == "GPU_SAMPLES":
        if value not in ("util", "mem_used_bytes", "power_w"):
            raise GpufleetError(f"--value {value!r}: use util, mem_used_bytes or power_w")
        key = pl.coalesce(pl.col("gpu_uuid"), pl.col("pod"), pl.col("node"), pl.lit("fleet"))
        before = f.height
        f = f.select(key.alias("unique_id"), pl.col("ts").alias("ds"), pl.col(value).cast(pl.Float64).alias("y"))
        f = f.drop_nulls("y")
        note += f": {value} per GPU/pod ({before - f.height:,} samples without {value} left out)"
    elif table == "REQUESTS":
        f = (
            f.select(
                pl.coalesce(pl.col("model"), pl.lit("all")).alias("unique_id"),
                (pl.col("arrival_time") // 60 * 60).alias("t"),
            )
            .group_by("unique_id", "t")
            .agg((pl.len() / 60.0).alias("y"))
            .select(
                "unique_id",
                pl.from_epoch(pl.col("t").cast(pl.Int64), time_unit="s").dt.replace_time_zone("UTC").alias("ds"),
                "y",
            )
            .sort("unique_id", "ds")
        )
        note += ": requests/s per model per minute (seconds since the trace epoch)"
    elif table != "SERIES":
        raise GpufleetError(f"{ref} is a {table} table; forecasting needs SERIES, GPU_SAMPLES or REQUESTS")
    f = f.select("unique_id", "ds", "y")
    if ids:
        missing = sorted(set(ids) - set(f["unique_id"].unique().to_list()))
        if missing:
            raise GpufleetError(
                f"{ref} has no series {', '.join(missing)}; it has e.g. "
                f"{', '.join(sorted(f['unique_id'].unique().to_list())[:8])}"
            )
        f = f.filter(pl.col("unique_id").is_in(ids))
    if top:
        busiest = (
            f.group_by("unique_id")
            .agg(pl.col("y").mean().alias("m"))
            .sort(["m", "unique_id"], descending=[True, False])
            .head(top)["unique_id"]
        )
        f = f.filter(pl.col("unique_id").is_in(busiest))
        note += f"; the {top} series with the highest mean"
    return f, note
