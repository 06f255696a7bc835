"""Tenancy overhead: the partitioned and quota models against one shared pool, same jobs, same run.

Workload: itp:cluster04 (15,802 jobs). ITP has no team, VC or user column, so its jobs are dealt
round-robin in submission order into four teams (traces with users: users dealt round-robin, heaviest
first by GPU-hours). Cluster: 8-GPU nodes for the mean demand at
0.8 load (as bench_sim's ITP replays); VCs split the nodes in proportion to the teams' GPU-hours (at least
the widest job each); the quota model gives each team its VC's GPUs as nominal quota, all in one cohort.
Goal (issue #10): partitioned and quota each within 1.2x of the pooled replay's time. `quota-1q` runs the
pooled replay itself through the quota machinery (one queue holding every GPU: the same schedule, so its
ratio is the machinery's own cost); `quota` (four teams in one cohort) also pays for what borrowing and
reclaim do to the schedule (thousands of preemptions and re-placements; "runs" counts job starts,
restarts included, and "per run" divides the ratio by the extra runs); `quota-noreclaim` is the four teams
with borrowing but no reclaim. Each timing is the best of --repeat runs in this process. "tries" counts the
scheduling decisions (a job tried for a start, whatever the outcome) and "placer" the placer's runs, each
against the pooled replay's, from one more untimed replay per model.
Then the quota search (`--target`, default 6 h p95 wait for every team, FIFO, 8-GPU steps).
Usage: python bench/bench_tenancy.py [--jobs itp:cluster04] [--schedulers fifo,sjf,tiresias] [--repeat 3] [--target 6h]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpufleet.sim.summary import Summary


def workload(ref: str) -> tuple:  # type: ignore[type-arg]
    import polars as pl

    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.traces import load

    jobs = load(ref).frame
    if jobs["user"].null_count() < jobs.height:
        users = (
            jobs.group_by("user")
            .agg((pl.col("duration") * pl.col("num_gpus")).sum().alias("w"))
            .sort(["w", "user"], descending=[True, False])
            .with_row_index("k")
            .select("user", ("team-" + (pl.col("k") % 4).cast(pl.String)).alias("group"))
        )
        jobs = jobs.drop("group").join(users, on="user", how="left")
    else:  # no users (ITP): jobs dealt round-robin in submission order
        jobs = jobs.sort("submit_time", maintain_order=True).with_row_index("k")
        jobs = jobs.with_columns(("team-" + (pl.col("k") % 4).cast(pl.String)).alias("group")).drop("k")
    work = jobs.group_by("group").agg(
        (pl.col("duration") * pl.col("num_gpus")).sum().alias("w"), pl.col("num_gpus").max()
    )
    gpu_h = float(work["w"].sum()) / 3600
    span_h = float(jobs["submit_time"].max() - jobs["submit_time"].min()) / 3600  # type: ignore[operator]
    n = max(8, math.ceil(gpu_h / span_h / 0.8 / 8))
    total = float(work["w"].sum())
    vcs = {}
    for g, w, widest in work.sort("group").iter_rows():
        vcs[g] = max(math.ceil(widest / 8), round(n * w / total))
    return jobs, parse_spec(f"{sum(vcs.values())}x8:V100"), vcs


def decisions(run: Callable[[], object]) -> tuple[int, int]:
    """(scheduling decisions, placer runs) of one replay: calls of TrainingSim.try_start (a job tried, whatever
    the outcome) and of the placer. Counted in a separate, untimed replay: the wrappers cost time."""
    import gpufleet.sim.training as training

    n = {"try": 0, "place": 0}
    try_start, place = training.TrainingSim.try_start, training.place

    def counted_try(self: Any, i: int, t: float) -> bool:
        n["try"] += 1
        return try_start(self, i, t)

    def counted_place(*a: Any, **k: Any) -> Any:
        n["place"] += 1
        return place(*a, **k)

    training.TrainingSim.try_start, training.place = counted_try, counted_place  # type: ignore[method-assign]
    try:
        run()
    finally:
        training.TrainingSim.try_start, training.place = try_start, place  # type: ignore[method-assign]
    return n["try"], n["place"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", default="itp:cluster04")
    ap.add_argument("--schedulers", default="fifo,sjf,tiresias")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--target", default="6h", help="p95-wait target of the quota search ('' to skip it)")
    a = ap.parse_args()
    if not os.environ.get("GPUFLEET_DATA"):
        print("bench_tenancy: skipped (set GPUFLEET_DATA=../shared/traces)")
        return
    from gpufleet.sim.quota_spec import QueueSpec
    from gpufleet.sim.run import SimConfig
    from gpufleet.sim.tenancy import TenancySpec, run_model

    jobs, nodes, vcs = workload(a.jobs)
    spec = TenancySpec(vcs=vcs)
    groups = sorted(set(jobs["group"].to_list()))
    no_reclaim = TenancySpec(vcs=vcs, reclaim=False)
    one = TenancySpec(queues={"all": QueueSpec(nominal=float(nodes["num_gpus"].sum()), groups=groups)})
    print(f"{a.jobs}: {jobs.height:,} jobs, {nodes.height * 8:,} GPUs, VCs (nodes) {vcs}", flush=True)
    worst = 0.0
    for s in a.schedulers.split(","):
        cfg = SimConfig(scheduler=s)
        best: dict[str, float] = {}
        summ: dict[str, Summary] = {}
        models = ("pooled", "partitioned", "quota", "quota-noreclaim", "quota-1q")

        def replay(m: str, cfg: SimConfig = cfg) -> Any:
            if m == "quota-1q":  # one queue holding every GPU: the pooled replay through the quota machinery
                return run_model("quota", jobs, nodes, one, cfg)
            if m == "quota-noreclaim":  # four queues, borrowing, but lenders wait instead of preempting
                return run_model("quota", jobs, nodes, no_reclaim, cfg)
            return run_model(m, jobs, nodes, spec, cfg)

        for _ in range(a.repeat):
            for m in models:
                t0 = time.perf_counter()
                r = replay(m)
                dt = time.perf_counter() - t0
                best[m] = min(best.get(m, math.inf), dt)
                summ[m] = r.summary
        counts = {m: decisions(lambda m=m: replay(m)) for m in models}
        # job runs = starts, restarts after a preemption included: the work the replay simulates
        runs = {m: summ[m].finished + summ[m].unfinished + summ[m].preemptions for m in models}
        for m in models:
            r = summ[m]
            ratio = best[m] / best["pooled"]
            per_run = ratio * runs["pooled"] / runs[m]
            if m != "pooled":
                worst = max(worst, ratio)
            extra = f"  reclaims {r.quota.reclaim_preemptions:,}" if r.quota is not None else ""
            tries, placed = counts[m]
            print(
                f"{s:9s} {m:16s} {best[m]:6.2f} s  x{ratio:4.2f} of pooled  runs {runs[m]:6,} (x{per_run:4.2f} per run)"
                f"  tries {tries:7,} (x{tries / counts['pooled'][0]:4.2f})  placer {placed:6,}"
                f" (x{placed / counts['pooled'][1]:4.2f})"
                f"  avg wait {r.avg_wait_s / 3600:6.2f} h  p95 wait {r.p95_wait_s / 3600:6.2f} h"
                f"  avg JCT {r.avg_jct_s / 3600:5.2f} h{extra}",
                flush=True,
            )
    print(f"worst overhead vs pooled: x{worst:.2f} (goal <= x1.20)")
    if a.target:
        from gpufleet.core.durations import parse_duration
        from gpufleet.sim.tenancy import suggest_quotas

        t0 = time.perf_counter()
        sug = suggest_quotas(jobs, nodes, SimConfig(scheduler="fifo"), {"*": parse_duration(a.target)}, step=8)
        print(
            f"quota search, fifo, p95 wait <= {a.target} per team"
            f" ({time.perf_counter() - t0:.1f} s, {sug['simulations']} sims):"
        )
        for g, x in sug["alone"].items():
            print(f"  {g}: alone {x['quota_gpus']} GPUs (p95 {x['p95_wait_s'] / 3600:.2f} h)", end="")
            q = sug["shared"].get("quotas", {}).get(g)
            p = sug["shared"].get("p95_wait_s", {}).get(g)
            print(f"; in one cohort {q} GPUs (p95 {p / 3600:.2f} h)" if q is not None else "")
        print(
            f"  total: alone {sug['alone_total_gpus']:.0f} GPUs, in one cohort {sug['shared'].get('total_gpus')} GPUs"
        )


if __name__ == "__main__":
    main()
