"""One simulation run: settings in, per-job frame + timeline + summary out (no I/O: the edges write them)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from gpufleet.core.prices import PriceTable
from gpufleet.core.registry import PolicyRegistry
from gpufleet.core.schemas import JOBS, NODES, validate
from gpufleet.forecasting.runtime import PREDICTORS, RuntimePredictor
from gpufleet.optimizer.autoscaling.pools import POOL_SCALERS, PoolScaler
from gpufleet.optimizer.packing import PLACERS, Placer
from gpufleet.optimizer.packing.pools import pool_rule
from gpufleet.sim.cluster_spec import view_from_nodes
from gpufleet.sim.costing import cluster_hours_by_type, group_hours_by_type
from gpufleet.sim.metrics import GroupTimeline, JobRecorder, Timeline, group_stats
from gpufleet.sim.pools import PoolController
from gpufleet.sim.quota import QuotaDispatcher, queue_schedulers
from gpufleet.sim.refresh import MateRefresher
from gpufleet.sim.run_config import COMPAT, COMPAT_SCHEDULER, PolicyChoice, SimConfig
from gpufleet.sim.schedulers import SCHEDULERS, Scheduler
from gpufleet.sim.summary import PoolStats, QuotaStats, Summary
from gpufleet.sim.training import TrainingSim, spec_speeds
from gpufleet.sim.workload import build_workload

__all__ = ["COMPAT", "PolicyChoice", "SimConfig", "SimResult", "job_stats", "simulate"]


@dataclass
class SimResult:
    """What a run produces."""

    jobs: pl.DataFrame
    timeline: pl.DataFrame
    summary: Summary
    config: dict[str, Any]
    groups: pl.DataFrame | None = None  # per-group (or per-queue) timeline, when the jobs carry groups


def _q(a: np.ndarray, q: float) -> float:
    # statistics over no jobs are reported as 0 (an empty trace gives a zero summary)
    return float(np.quantile(a, q)) if a.size else 0.0


def _named(registry: PolicyRegistry[Any], obj: object) -> str:
    """The registry name of a passed-in member's class (a test double or a plugin's own class: its class name)."""
    return next((n for n, cls in registry.items() if type(obj) is cls), type(obj).__name__)


def simulate(
    jobs: pl.DataFrame,
    nodes: pl.DataFrame,
    cfg: SimConfig,
    observers: list[Any] | None = None,
    predictions: pl.DataFrame | None = None,
    *,
    scheduler: Scheduler | QuotaDispatcher | None = None,
    placer: Placer | None = None,
    predictor: RuntimePredictor | None = None,
    pool_scaler: PoolScaler | None = None,
    prices: PriceTable | None = None,
) -> SimResult:
    """Replay `jobs` on `nodes` under `cfg` and measure it; extra `observers` (with `on_job(t, what, i)` and/or
    `before(t, kind, payload)` and an optional `attach(sim)`) see the run too. `predictions`: the output of
    `cfg.predictor` for these jobs, when the caller already has it (several runs over one trace).

    A policy object passed in (`scheduler`, `placer`, `predictor`, `pool_scaler`: built, fresh, not shared
    with another run) replaces the member `cfg` names for that kind, and the summary names it by its registry
    name. Under `cfg.quota` the scheduler is a QuotaDispatcher (one scheduler per queue). The summary's GPU-hours
    are priced by `prices` (the built-in list prices when None; `Summary.priced` re-prices a summary)."""
    t0 = time.perf_counter()
    jobs, nodes = validate(jobs, JOBS), validate(nodes, NODES)
    jobs, pool_notes = pool_rule(jobs, nodes)  # a job naming a node pool runs only on that pool's nodes
    if cfg.integer_seconds:
        # Helios/Lucid tick once per second: int() of the submit time, durations as whole seconds
        jobs = jobs.with_columns(pl.col("submit_time").floor(), pl.col("duration").round())
    names: dict[str, str] = {"scheduler": cfg.scheduler.name, "placement": cfg.placement.name}
    quota: QuotaDispatcher | None = None
    if cfg.quota is not None:
        if scheduler is not None and not isinstance(scheduler, QuotaDispatcher):
            raise ValueError("under quotas each queue has its own scheduler: pass a QuotaDispatcher")
        # each queue's scheduler takes the run scheduler's settings it declares, and the compat preset's
        shared = cfg.scheduler.settings | COMPAT_SCHEDULER.get(cfg.compat or "", {})
        quota = scheduler or QuotaDispatcher(cfg.quota, queue_schedulers(cfg.quota, cfg.scheduler.name, shared))
        sched: Any = quota
    elif scheduler is not None:
        sched, names["scheduler"] = scheduler, _named(SCHEDULERS, scheduler)
    else:
        sched = SCHEDULERS.build(cfg.scheduler.name, cfg.scheduler.settings)
    if predictor is None:
        predictor = PREDICTORS.build(cfg.predictor.name, cfg.predictor.settings)
        pred_name = cfg.predictor.name
    else:
        pred_name = _named(PREDICTORS, predictor)
    pool_name = None if cfg.pool is None else cfg.pool.name
    if pool_scaler is not None:
        pool_name = _named(POOL_SCALERS, pool_scaler)
    elif cfg.pool is not None:
        pool_scaler = POOL_SCALERS.build(cfg.pool.name, cfg.pool.settings)
    # predictions are computed only for schedulers that read them (user-history is a pass over all jobs)
    # the predictive pool scaler reads predicted ends too
    wants = sched.uses_prediction or pool_name == "predictive"
    preds = None
    if wants and not predictor.sees_future:  # one that reads the true durations: the replay uses them itself
        preds = predictions if predictions is not None else predictor.predict(jobs)
    refresh = preds is not None and cfg.mate_gap_s > 0
    wl = build_workload(jobs, preds, cfg.mate_gap_s if refresh else 0.0)
    view = view_from_nodes(nodes)
    if placer is None:
        placer = PLACERS.build(cfg.placement.name, cfg.placement.settings, seed=cfg.seed)
    else:
        names["placement"] = _named(PLACERS, placer)
    speeds = spec_speeds(view) if cfg.speeds == "spec" else (cfg.speeds if isinstance(cfg.speeds, dict) else None)
    sim = TrainingSim(
        wl,
        view,
        sched,
        placer,
        chunk=cfg.chunk_gpus,
        multi_node=cfg.multi_node,
        preempt_overhead=cfg.preempt_overhead_s,
        speeds=speeds,
        quota=quota,
    )
    if quota is not None:
        quota.bind(sim)
    refresher = MateRefresher(wl.mates) if refresh else None
    if refresher is not None:
        refresher.attach(sim)
        sim.job_observers.append(refresher)
    pool = None
    if pool_scaler is not None:
        pool = PoolController(pool_scaler, cfg.provision_delay_s)
        pool.attach(sim)
        sim.engine.observers.append(pool)
    rec = JobRecorder(wl.n, view, sim.placement)
    start = wl.submit[0] if wl.n else 0.0
    tl = Timeline(sim, cfg.timeline_step_s, start)
    sim.job_observers.append(rec)
    sim.engine.observers.append(tl)
    gtl = _group_timeline(sim, quota, cfg.timeline_step_s, start)
    if gtl is not None:
        sim.job_observers.append(gtl)
        sim.engine.observers.append(gtl)
    for o in observers or []:
        if hasattr(o, "attach"):
            o.attach(sim)
        if hasattr(o, "on_job"):
            sim.job_observers.append(o)
        if hasattr(o, "before"):
            sim.engine.observers.append(o)
    t_end = sim.run()
    tl.close(t_end)
    out = _jobs_frame(wl, sim, rec)
    if wl.group:
        out = out.with_columns(pl.Series("group", wl.group, pl.String))
    if quota is not None:
        out = out.with_columns(
            pl.Series("queue", [quota.book.names[q] if q >= 0 else None for q in quota.book.job_queue], pl.String)
        )
    summary = _summary(out, wl, view.total_gpus, tl, start, names | {"predictor": pred_name})
    last = start + summary.makespan_s
    summary.gpu_hours = pool.gpu_hours(last) if pool is not None else view.total_gpus * summary.makespan_s / 3600
    summary.gpu_hours_by_type = (
        pool.gpu_hours_by_type(last) if pool is not None else cluster_hours_by_type(view, summary.makespan_s)
    )
    if pool is not None:
        summary.pool = PoolStats(
            policy=pool_name,
            nodes_added=pool.added,
            nodes_removed=pool.removed,
            jobs_preempted_by_scale_down=pool.preempted,
            actions=len(pool.actions),
        )
    if gtl is not None:
        gtl.close(t_end)
        owned = (
            dict(zip(quota.book.names, (sum(n) for n in quota.book.nominal), strict=True))
            if quota is not None
            else None
        )
        frame = out.with_columns(pl.col("queue").alias("group")) if quota is not None else out
        summary.groups = group_stats(frame, summary.makespan_s, owned, gtl)
        _ran_by_type(summary, frame, view, sim.speed)
        summary.groups_by = "queue" if quota is not None else "group"
        summary.group_timeline_step_s = gtl.step
    elif wl.group and any(g is not None for g in wl.group):
        # one group (e.g. one VC of a partitioned run): the cluster timeline is its timeline
        summary.groups = group_stats(out, summary.makespan_s)
        summary.groups[0].gpu_hours_held = tl.area / 3600
        _ran_by_type(summary, out, view, sim.speed)
        summary.groups_by = "group"
    if quota is not None:
        summary.quota = QuotaStats.model_validate(quota.report())
    if pool_notes:
        summary.notes = pool_notes
    summary.predictor = pred_name if wants else "none"
    # what `auto` chose at each weekly refit (None for the other predictors, or predictions passed in)
    summary.predictor_choice = predictor.choice if wants and preds is not None and predictions is None else None
    # waiting jobs re-ranked from their submission mates' news (0 when predictions were fixed)
    summary.mate_refreshes = refresher.refreshed if refresher is not None else 0
    summary.events = sim.engine.events_handled
    summary.wall_s = round(time.perf_counter() - t0, 3)
    summary = summary.priced(prices)
    return SimResult(out, tl.frame(), summary, cfg.model_dump(mode="json"), gtl.frame() if gtl is not None else None)


def _ran_by_type(summary: Summary, frame: pl.DataFrame, view: Any, speed: list[float]) -> None:
    """Each group row's GPU-hours ran per GPU type (what its cost is)."""
    hours = group_hours_by_type(frame, view, speed)
    for g in summary.groups or []:
        g.gpu_hours_ran_by_type = hours.get(str(g.group), {})


GROUP_ROWS = 5_000_000  # per-group timeline rows a replay aims to stay under (the step grows beyond)


def group_step(step: float, groups: int, wl: Any) -> float:
    """The per-group timeline's step: `step`, or the smallest multiple of it that keeps groups x samples over
    the expected span (submissions plus the mean duration) under GROUP_ROWS. A 1M-job trace with a hundred
    teams would otherwise hold tens of millions of rows (GiBs) for one chart."""
    if not wl.n or groups <= 0:
        return step
    span = (wl.submit[-1] - wl.submit[0]) + float(np.mean(wl.duration))
    return step * max(1, math.ceil(groups * span / step / GROUP_ROWS))


def _group_timeline(sim: TrainingSim, quota: QuotaDispatcher | None, step: float, start: float) -> GroupTimeline | None:
    """Per-queue timeline under quotas; per-group when the jobs carry groups; none otherwise."""
    if quota is not None:
        book = quota.book
        gs = group_step(step, len(book.names), sim.wl)
        return GroupTimeline(sim, book.names, book.job_queue, gs, start, book)
    groups = sim.wl.group
    if not groups or all(g is None for g in groups):
        return None
    names = sorted({g for g in groups if g is not None})
    if len(names) == 1 and None not in groups:
        return None  # the cluster timeline says it all
    idx = {g: k for k, g in enumerate(names)}
    gs = group_step(step, len(names), sim.wl)
    return GroupTimeline(sim, names, [idx[g] if g is not None else -1 for g in groups], gs, start)


def _jobs_frame(wl: Any, sim: TrainingSim, rec: JobRecorder) -> pl.DataFrame:
    sub = np.array(wl.submit, dtype=float)
    start = np.array(rec.first_start, dtype=float)
    fin = np.array(rec.finish, dtype=float)
    dur = np.array(wl.duration, dtype=float)
    jct = fin - sub
    status = np.where(rec.unschedulable, "unschedulable", np.where(np.isnan(fin), "unfinished", "finished"))
    return pl.DataFrame(
        {
            "job_id": wl.job_id,
            "submit": sub,
            "start": start,
            "finish": fin,
            "duration": dur,
            "num_gpus": np.array(wl.gpus, dtype=float),
            "predicted": np.array(wl.pred, dtype=float),
            "wait": start - sub,
            "jct": jct,
            "slowdown": jct / np.maximum(dur, 1.0),
            "preemptions": np.array(rec.preemptions, dtype=np.int64),
            "nodes": rec.nodes,
            "n_nodes": [len(s.split(",")) if s else 0 for s in rec.nodes],
            "status": status.tolist(),
        },
        schema_overrides={"job_id": pl.Utf8, "nodes": pl.Utf8, "status": pl.Utf8, "n_nodes": pl.Int64},
    ).with_columns(pl.col(c).fill_nan(None) for c in ("start", "finish", "wait", "jct", "slowdown"))


def _summary(
    out: pl.DataFrame, wl: Any, total_gpus: float, tl: Timeline, start: float, names: dict[str, str]
) -> Summary:
    """The summary's fields every replay has; `simulate` sets the rest (pool, groups, quota, counts, wall
    time) once the run is over. Its events, GPU-hours and wall time are placeholders until then."""
    done = out.filter(pl.col("status") == "finished")
    end = float(done["finish"].max()) if done.height else start  # type: ignore[arg-type]
    span = max(end - start, 0.0)
    return Summary(
        scheduler=names["scheduler"],
        placement=names["placement"],
        predictor=names["predictor"],
        cluster_gpus=total_gpus,
        jobs=out.height + len(wl.skipped_unknown_duration),
        skipped_unknown_duration=len(wl.skipped_unknown_duration),
        skipped_unknown_duration_jobs=wl.skipped_unknown_duration[:100],
        **job_stats(out),
        makespan_s=span,
        avg_gpu_allocation=tl.area / (span * total_gpus) if span > 0 and total_gpus > 0 else 0.0,
        avg_stranded_gpus=tl.mean("stranded_gpus"),
        gpu_hours=0.0,
        events=0,
        wall_s=0.0,
    )


def job_stats(out: pl.DataFrame) -> dict[str, Any]:
    """The per-job part of a summary, from a run's job frame (also used to merge partitioned runs)."""
    done = out.filter(pl.col("status") == "finished")
    jct = done["jct"].to_numpy()
    wait = done["wait"].to_numpy()
    unsched = out.filter(pl.col("status") == "unschedulable")["job_id"].to_list()
    return {
        "finished": done.height,
        "unfinished": int((out["status"] == "unfinished").sum()),
        "unschedulable": len(unsched),
        "unschedulable_jobs": unsched[:100],
        "avg_jct_s": float(jct.mean()) if jct.size else 0.0,
        "p50_jct_s": _q(jct, 0.5),
        "p95_jct_s": _q(jct, 0.95),
        "p99_jct_s": _q(jct, 0.99),
        "avg_wait_s": float(wait.mean()) if wait.size else 0.0,
        "p50_wait_s": _q(wait, 0.5),
        "p95_wait_s": _q(wait, 0.95),
        "p99_wait_s": _q(wait, 0.99),
        "avg_slowdown": float(done["slowdown"].mean()) if done.height else 0.0,  # type: ignore[arg-type]
        "preemptions": int(out["preemptions"].sum()),
    }
