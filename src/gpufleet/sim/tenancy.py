"""Tenancy: the same workload on one shared pool or on partitioned virtual clusters (Philly/Helios style: each
group owns whole nodes and never borrows), with results per group.

A tenancy file (YAML):
```yaml
nodes: 40x8:A100            # a cluster spec or a NODES frame given by the caller
vcs:                        # partitioned model: nodes per group, taken in node order
  team-a: 24
  team-b: 16
default_vc: team-b          # where jobs of unlisted groups go (default: refused, with the count)
```
`pooled` replays every job on all the nodes; `partitioned` replays each VC's jobs on its nodes only (each VC
is its own simulation: nothing is shared, exactly as in a partitioned cluster). Kueue-style quotas with
cohorts and borrowing are the next step (issue #10).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from gpufleet.core.errors import GpufleetError
from gpufleet.sim.run import SimConfig, simulate

MODELS = ("pooled", "partitioned")


class TenancySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: str | None = Field(None, description="cluster spec COUNTxGPUS:TYPE,...; or give the nodes separately")
    vcs: dict[str, int] = Field(default_factory=dict, description="nodes per group (partitioned model)")
    default_vc: str | None = None


def _group_stats(
    jobs: pl.DataFrame, result_jobs: pl.DataFrame, gpus: dict[str, float], span_s: float
) -> list[dict[str, Any]]:
    f = result_jobs.join(jobs.select("job_id", "group"), on="job_id", how="left")
    rows = []
    for (g,), part in f.group_by("group", maintain_order=True):
        done = part.filter(pl.col("finish").is_not_null())
        wait = done["wait"].to_numpy()
        jct = done["jct"].to_numpy()
        used = float((done["num_gpus"] * (done["finish"] - done["start"])).sum())
        rows.append(
            {
                "group": g,
                "jobs": part.height,
                "finished": done.height,
                "avg_wait_s": float(wait.mean()) if len(wait) else 0.0,
                "p95_wait_s": float(np.quantile(wait, 0.95)) if len(wait) else 0.0,
                "avg_jct_s": float(jct.mean()) if len(jct) else 0.0,
                "gpu_hours_used": used / 3600,
                "gpus_owned": gpus.get(str(g)),
                "allocation": used / (gpus[str(g)] * span_s) if gpus.get(str(g)) and span_s > 0 else None,
            }
        )
    return sorted(rows, key=lambda r: str(r["group"]))


def compare(
    jobs: pl.DataFrame, nodes: pl.DataFrame, spec: TenancySpec, models: list[str], cfg: SimConfig
) -> dict[str, Any]:
    """Per model: overall summary and per-group rows."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise GpufleetError(f"--compare: unknown model {unknown[0]!r}; valid: {', '.join(MODELS)} (quota is next)")
    if "group" not in jobs.columns:
        raise GpufleetError("the jobs have no `group` column: tenancy needs the team / VC of each job")
    jobs = jobs.with_columns(pl.col("group").fill_null("(none)"))
    out: dict[str, Any] = {}
    for m in models:
        if m == "pooled":
            res = simulate(jobs, nodes, cfg)
            span = float(res.summary["makespan_s"])
            total = float(nodes["num_gpus"].sum())
            groups = _group_stats(jobs, res.jobs, {}, span)
            out[m] = {"summary": res.summary, "groups": groups, "gpus": total}
            continue
        if not spec.vcs:
            raise GpufleetError("partitioned: the tenancy file gives no vcs (nodes per group)")
        if sum(spec.vcs.values()) > nodes.height:
            raise GpufleetError(f"vcs ask for {sum(spec.vcs.values())} nodes; the cluster has {nodes.height}")
        vc_of = pl.col("group")
        if spec.default_vc:
            vc_of = pl.when(pl.col("group").is_in(list(spec.vcs))).then("group").otherwise(pl.lit(spec.default_vc))
        assigned = jobs.with_columns(vc_of.alias("_vc"))
        refused = assigned.filter(~pl.col("_vc").is_in(list(spec.vcs)))
        start = 0
        parts, gpus, summaries = [], {}, {}
        for vc, n in spec.vcs.items():
            mine = nodes.slice(start, n)
            start += n
            gpus[vc] = float(mine["num_gpus"].sum())
            vj = assigned.filter(pl.col("_vc") == vc).drop("_vc")
            if vj.height == 0:
                continue
            res = simulate(vj, mine, cfg)
            summaries[vc] = res.summary
            parts.append(res.jobs.join(vj.select("job_id", pl.lit(vc).alias("_vc")), on="job_id"))
        allj = pl.concat(parts) if parts else pl.DataFrame()
        span = max((float(s["makespan_s"]) for s in summaries.values()), default=0.0)
        by_vc = jobs.join(assigned.select("job_id", "_vc"), on="job_id").with_columns(pl.col("_vc").alias("group"))
        groups = _group_stats(by_vc.drop("_vc"), allj.drop("_vc"), gpus, span) if parts else []
        wait = allj.filter(pl.col("finish").is_not_null())["wait"].to_numpy() if parts else np.zeros(0)
        out[m] = {
            "summary": {
                "jobs": int(allj.height),
                "refused_jobs_no_vc": refused.height,
                "avg_wait_s": float(wait.mean()) if len(wait) else 0.0,
                "p95_wait_s": float(np.quantile(wait, 0.95)) if len(wait) else 0.0,
                "makespan_s": span,
            },
            "groups": groups,
            "gpus": sum(gpus.values()),
            "per_vc": summaries,
        }
    return out
