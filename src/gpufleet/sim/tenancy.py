"""Tenancy: the same workload on one shared pool, on partitioned virtual clusters (Philly/Helios style: each
group owns whole nodes and never borrows), or on a shared cluster with Kueue-style quotas (sim/quota.py),
with results per group; and a search for the smallest per-group quotas that meet p95-wait targets.

A tenancy file (YAML):
```yaml
nodes: 40x8:A100            # a cluster spec, or give the nodes separately
vcs:                        # partitioned model: nodes per group, taken in node order
  team-a: 24
  team-b: 16
default_vc: team-b          # where jobs of unlisted groups go (default: refused, with the count)
queues:                     # quota model: Kueue ClusterQueues (see sim/quota.py for every field)
  team-a: {nominal: 192, cohort: all, borrowing_limit: 64}
  team-b: {nominal: 128, cohort: all}
default_queue: team-b
```
`pooled` replays every job on all the nodes; `partitioned` replays each VC's jobs on its nodes only (each VC
is its own simulation: nothing is shared, exactly as in a partitioned cluster); `quota` replays every job on
all the nodes through the queues' quotas. Without `queues`, the quota model derives them from `vcs`: each
group's nominal quota is its VC's GPUs, all in one cohort (what the same split would give with borrowing).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from gpufleet.core.errors import GpufleetError
from gpufleet.sim.costing import by_type
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.run import SimConfig, SimResult, job_stats, simulate
from gpufleet.sim.summary import GroupRow, Summary

MODELS = ("pooled", "partitioned", "quota")


class TenancySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: str | None = Field(None, description="cluster spec COUNTxGPUS:TYPE,...; or give the nodes separately")
    vcs: dict[str, int] = Field(default_factory=dict, description="nodes per group (partitioned model)")
    default_vc: str | None = None
    queues: dict[str, QueueSpec] = Field(default_factory=dict, description="Kueue-style queues (quota model)")
    default_queue: str | None = None
    reclaim: bool = Field(True, description="lenders preempt borrowers to get their nominal quota back")

    def quota(self, nodes: pl.DataFrame) -> QuotaSpec:
        """The quota model's queues: as written, or one per VC with its GPUs as nominal, in one cohort."""
        if self.queues:
            return QuotaSpec(queues=self.queues, default_queue=self.default_queue, reclaim=self.reclaim)
        if not self.vcs:
            raise GpufleetError("quota: the tenancy file gives neither queues nor vcs")
        gpus = _vc_gpus(self, nodes)
        return QuotaSpec(
            queues={vc: QueueSpec(nominal=gpus[vc], cohort="all") for vc in self.vcs},
            default_queue=self.default_queue or self.default_vc,
            reclaim=self.reclaim,
        )


def _vc_gpus(spec: TenancySpec, nodes: pl.DataFrame) -> dict[str, float]:
    if sum(spec.vcs.values()) > nodes.height:
        raise GpufleetError(f"vcs ask for {sum(spec.vcs.values())} nodes; the cluster has {nodes.height}")
    out, start = {}, 0
    for vc, n in spec.vcs.items():
        out[vc] = float(nodes.slice(start, n)["num_gpus"].sum())
        start += n
    return out


_EMPTY = pl.DataFrame(
    schema={
        "job_id": pl.String,
        "status": pl.String,
        "jct": pl.Float64,
        "wait": pl.Float64,
        "finish": pl.Float64,
        "slowdown": pl.Float64,
        "preemptions": pl.Int64,
    }
)


def run_partitioned(jobs: pl.DataFrame, nodes: pl.DataFrame, spec: TenancySpec, cfg: SimConfig) -> SimResult:
    """Each VC's jobs on its own nodes, one simulation per VC, merged into one result (the timeline is
    per VC, with a `group` column)."""
    if not spec.vcs:
        raise GpufleetError("partitioned: the tenancy file gives no vcs (nodes per group)")
    gpus = _vc_gpus(spec, nodes)
    vc_of = pl.col("group")
    if spec.default_vc:
        vc_of = pl.when(pl.col("group").is_in(list(spec.vcs))).then("group").otherwise(pl.lit(spec.default_vc))
    assigned = jobs.with_columns(vc_of.alias("group"))
    refused = assigned.filter(~pl.col("group").is_in(list(spec.vcs)))
    start, parts, timelines, walls = 0, [], [], 0.0
    groups: list[GroupRow] = []
    events, skipped, stranded = 0, 0, 0.0
    for vc, n in spec.vcs.items():
        mine = nodes.slice(start, n)
        start += n
        vj = assigned.filter(pl.col("group") == vc)
        if vj.height == 0:
            continue
        res = simulate(vj, mine, cfg)
        parts.append(res.jobs)
        timelines.append(res.timeline.with_columns(pl.lit(vc).alias("group")))
        walls += res.summary.wall_s
        assert res.summary.groups is not None  # the VC's jobs all carry its name: one group row
        groups.append(res.summary.groups[0])
        # sums over the VCs
        events += res.summary.events
        skipped += res.summary.skipped_unknown_duration
        stranded += res.summary.avg_stranded_gpus
    frame = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
    # the whole run: first submission to last finish over every VC
    done = frame.filter(pl.col("finish").is_not_null()) if parts else frame
    span = float(done["finish"].max()) - float(frame["submit"].min()) if done.height else 0.0  # type: ignore[arg-type]
    held = 0.0
    for g in groups:
        held_h = g.gpu_hours_held or 0.0  # set on every VC's row (its cluster timeline)
        owned = gpus[str(g.group)]
        g.gpus_owned = owned
        g.allocation = held_h * 3600 / (owned * span) if span > 0 else None
        held += held_h
    total = sum(gpus.values())
    summary = Summary(
        model="partitioned",
        scheduler=cfg.scheduler.name,
        placement=cfg.placement.name,
        predictor=cfg.predictor.name,
        cluster_gpus=total,
        jobs=frame.height + refused.height + skipped,
        refused_jobs_no_vc=refused.height,
        **job_stats(frame if parts else _EMPTY),
        makespan_s=span,
        avg_gpu_allocation=held * 3600 / (total * span) if span > 0 and total > 0 else 0.0,
        groups=sorted(groups, key=lambda g: str(g.group)),
        groups_by="group",
        gpu_hours=total * span / 3600,
        # the VCs' nodes (the first `start` rows) up over the whole span, as gpu_hours counts them
        gpu_hours_by_type=by_type(nodes["gpu_type"].head(start).to_list(), nodes["num_gpus"].head(start) * span),
        events=events,
        skipped_unknown_duration=skipped,
        avg_stranded_gpus=stranded,  # sum of the VCs' averages
        wall_s=round(walls, 3),
    ).priced()
    tl = pl.concat(timelines) if timelines else pl.DataFrame()
    return SimResult(frame, tl, summary, cfg.model_dump(mode="json") | {"vcs": spec.vcs}, None)


def run_model(model: str, jobs: pl.DataFrame, nodes: pl.DataFrame, spec: TenancySpec, cfg: SimConfig) -> SimResult:
    """One tenancy model on the workload."""
    if model == "pooled":
        res = simulate(jobs, nodes, cfg)
    elif model == "quota":
        res = simulate(jobs, nodes, cfg.model_copy(update={"quota": spec.quota(nodes)}))
    elif model == "partitioned":
        return run_partitioned(jobs, nodes, spec, cfg)
    else:
        raise GpufleetError(f"--compare: unknown model {model!r}; valid: {', '.join(MODELS)}")
    res.summary.model = model
    return res


def _prepare(jobs: pl.DataFrame) -> pl.DataFrame:
    if "group" not in jobs.columns:
        raise GpufleetError("the jobs have no `group` column: tenancy needs the team / VC of each job")
    return jobs.with_columns(pl.col("group").fill_null("(none)"))


def compare(
    jobs: pl.DataFrame, nodes: pl.DataFrame, spec: TenancySpec, models: list[str], cfg: SimConfig
) -> dict[str, SimResult]:
    """Every model on the same workload (jobs without a group are the group "(none)")."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise GpufleetError(f"--compare: unknown model {unknown[0]!r}; valid: {', '.join(MODELS)}")
    jobs = _prepare(jobs)
    return {m: run_model(m, jobs, nodes, spec, cfg) for m in models}


def digest(results: dict[str, SimResult]) -> dict[str, Any]:
    """The side-by-side numbers of a comparison (JSON-ready)."""
    keys = ("jobs", "finished", "unschedulable", "avg_wait_s", "p95_wait_s", "avg_jct_s", "makespan_s")
    out: dict[str, Any] = {}
    for m, r in results.items():
        s = r.summary.dump()  # the fields the run set, as its summary.json holds them
        out[m] = {
            "summary": {k: s[k] for k in keys}
            | {"avg_gpu_allocation": s["avg_gpu_allocation"], "wall_s": s["wall_s"]}
            | {k: s[k] for k in ("refused_jobs_no_vc", "quota") if k in s}
            | {k: s[k] for k in ("gpu_hours", "cost", "unpriced_gpu_hours", "priced_by") if k in s},
            "groups": s.get("groups", []),
            "gpus": s["cluster_gpus"],
        }
    return out


# -- quota search ------------------------------------------------------------------------------------


def _p95(res: SimResult) -> dict[str, float]:
    return {str(g.group): g.p95_wait_s for g in res.summary.groups or []}


def sized(nodes: pl.DataFrame, gpus: float) -> pl.DataFrame:
    """The cluster's nodes, repeated in order (or cut) until they hold at least `gpus` GPUs: a cluster of
    the same node kinds with the capacity a set of quotas asks for."""
    per = nodes["num_gpus"].cast(pl.Float64).to_list()
    take, have = 0, 0.0
    while have < gpus - 1e-9 and sum(per) > 0:
        have += per[take % len(per)]
        take += 1
    reps = -(-take // len(per))
    tiled = pl.concat(
        [
            nodes.with_columns((pl.col("node_id") + f"~{k}" if k else pl.col("node_id")).alias("node_id"))
            for k in range(reps)
        ]
    )
    return tiled.head(max(take, 1))


def suggest_quotas(
    jobs: pl.DataFrame,
    nodes: pl.DataFrame,
    cfg: SimConfig,
    targets: dict[str, float],
    *,
    step: float = 1.0,
    max_trims: int = 24,
) -> dict[str, Any]:
    """Per-group nominal quotas (GPUs, multiples of `step`) that meet each group's p95-wait target with
    the fewest GPUs, in two stages:

    1. alone: for each group, the smallest quota under which its own jobs, alone on the cluster behind
       that quota, meet its target (binary search; p95 wait falls as the quota grows, near enough);
    2. shared: all groups in one cohort (they borrow each other's idle quota), every quota scaled by one
       factor, binary-searched for the smallest total with every target still met in the joint replay, on
       a cluster of the same node kinds sized to the total quota (`sized`): the GPUs the quotas ask for;
       then, largest quota first, one step less for one group at a time while every target still holds
       (at most `max_trims` trials: a greedy descent, not a proof of the minimum).
    A group whose target is not met even with the whole cluster is reported as unreachable. `targets`
    maps group -> seconds; "*" applies to groups not named.
    """
    jobs = _prepare(jobs)
    total = float(nodes["num_gpus"].sum())
    groups = sorted(str(g) for g in jobs["group"].unique())

    def target(g: str) -> float:
        if g in targets:
            return targets[g]
        if "*" in targets:
            return targets["*"]
        raise GpufleetError(f"no p95-wait target for group {g!r} (give one, or '*' for all)")

    def quantize(x: float) -> float:
        return min(total, math.ceil(x / step - 1e-9) * step)

    alone: dict[str, Any] = {}
    runs = 0
    # no quota below a group's largest job (it could never run)
    floor = {str(g): quantize(float(m)) for g, m in jobs.group_by("group").agg(pl.col("num_gpus").max()).iter_rows()}
    for g in groups:
        mine = jobs.filter(pl.col("group") == g)
        lo, hi = floor[g], total

        def ok(n: float, mine: pl.DataFrame = mine, g: str = g) -> tuple[bool, float]:
            q = QuotaSpec(queues={g: QueueSpec(nominal=n)})
            r = simulate(mine, nodes, cfg.model_copy(update={"quota": q}))
            p = _p95(r).get(g, 0.0)
            return r.summary.unschedulable == 0 and p <= target(g) + 1e-9, p

        runs += 1
        good, p_hi = ok(hi)
        if not good:
            alone[g] = {"quota_gpus": None, "p95_wait_s": p_hi, "target_s": target(g), "reachable": False}
            continue
        best, p_best = hi, p_hi
        while hi - lo > step / 2:
            mid = quantize((lo + hi) / 2)
            if mid >= hi:
                mid = hi - step
            if mid < lo:
                break
            runs += 1
            good, p = ok(mid)
            if good:
                hi, best, p_best = mid, mid, p
            else:
                lo = mid + step
        alone[g] = {"quota_gpus": best, "p95_wait_s": p_best, "target_s": target(g), "reachable": True}
    reachable = {g: a["quota_gpus"] for g, a in alone.items() if a["reachable"]}
    shared: dict[str, Any] = {"scale": None}
    if reachable:
        sub = jobs.filter(pl.col("group").is_in(list(reachable)))

        def joint(
            scale: float, quotas: dict[str, float] | None = None
        ) -> tuple[bool, dict[str, float], dict[str, float]]:
            if quotas is None:
                quotas = {g: max(quantize(n * scale), floor[g], step) for g, n in reachable.items()}
            qs = QuotaSpec(queues={g: QueueSpec(nominal=n, cohort="all") for g, n in quotas.items()})
            r = simulate(sub, sized(nodes, sum(quotas.values())), cfg.model_copy(update={"quota": qs}))
            p = _p95(r)
            met = r.summary.unschedulable == 0 and all(p.get(g, 0.0) <= target(g) + 1e-9 for g in quotas)
            return met, quotas, p

        lo_s, hi_s = 0.0, 1.0
        runs += 1
        met, quotas, waits = joint(1.0)
        best_s: tuple[float, dict[str, float], dict[str, float]] | None = (1.0, quotas, waits) if met else None
        if met:
            for _ in range(7):  # 1/128 of the alone total
                mid = (lo_s + hi_s) / 2
                runs += 1
                met, quotas, waits = joint(mid)
                if met:
                    hi_s, best_s = mid, (mid, quotas, waits)
                else:
                    lo_s = mid
        if best_s is not None:
            # then one group at a time, largest quota first: one step less while every target still holds
            scale, quotas, waits = best_s
            trimmed = 0
            changed = True
            while changed and trimmed < max_trims:
                changed = False
                for g in sorted(quotas, key=lambda g: (-quotas[g], g)):
                    if quotas[g] - step < floor[g] - 1e-9 or trimmed >= max_trims:
                        continue
                    runs += 1
                    trimmed += 1
                    met, q2, w2 = joint(scale, quotas | {g: quotas[g] - step})
                    if met:
                        quotas, waits, changed = q2, w2, True
            shared = {
                "scale": scale,
                "quotas": quotas,
                "total_gpus": sum(quotas.values()),
                "p95_wait_s": waits,
                "trim_trials": trimmed,
            }
        else:
            # sharing can lose: reclaim preemptions cost restore time and borrowers block lenders' big jobs
            shared = {"scale": None, "note": "the alone quotas in one cohort miss a target"}
    return {
        "targets_s": {g: target(g) for g in groups},
        "alone": alone,
        "alone_total_gpus": sum(v for v in reachable.values()),
        "shared": shared,
        "cluster_gpus": total,
        "simulations": runs,
    }
