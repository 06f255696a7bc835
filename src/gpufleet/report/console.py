"""Terminal renderings (rich) of profiles, metadata and summaries: plain functions from dicts to tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from gpufleet.core.prices import dollars
from gpufleet.core.units import human_seconds

if TYPE_CHECKING:
    from gpufleet.sim.summary import Summary

SPARK = " ▁▂▃▄▅▆▇█"


def spark(values: list[float]) -> str:
    """A one-line bar chart of values (used for arrivals per hour of day)."""
    top = max(values) if values and max(values) > 0 else 1.0
    return "".join(SPARK[min(8, round(v / top * 8))] for v in values)


def fmt(v: Any) -> str:
    """Compact formatting for table cells."""
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.3g}"
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def datasets_table(rows: list[dict[str, Any]]) -> Table:
    """`traces list`: one row per dataset."""
    t = Table(title="datasets (reference = NAME[:PART])", show_lines=False)
    for col in ("name", "tables", "parts", "found", "license", "what"):
        t.add_column(col, overflow="fold")
    for r in rows:
        parts = r["parts"]
        shown = ", ".join(parts[:6]) + (f" … (+{len(parts) - 6})" if len(parts) > 6 else "")
        t.add_row(r["name"], ", ".join(r["tables"]), shown, r["found"], r["license"], r["title"])
    return t


def meta_table(meta: dict[str, Any]) -> Table:
    """`traces show`: where the frame came from."""
    t = Table(title=meta["ref"], show_header=False)
    t.add_column("k", style="bold")
    t.add_column("v", overflow="fold")
    for k in ("title", "table", "rows", "source", "license", "files", "epoch", "skipped", "notes"):
        v = meta.get(k)
        if isinstance(v, list):
            v = "; ".join(map(str, v)) or "-"
        if isinstance(v, dict):
            v = ", ".join(f"{a}: {b}" for a, b in v.items()) or "none"
        t.add_row(k, fmt(v))
    return t


def _flatten(p: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in p.items():
        key = f"{prefix}{k}"
        if k == "hourly_arrivals":
            out.append(("arrivals by hour 0-23", spark(v)))
        elif isinstance(v, dict) and k != "status":
            out.extend(_flatten(v, key + "."))
        elif isinstance(v, dict):
            out.append((key, ", ".join(f"{a} {b:,}" for a, b in v.items())))
        elif k.endswith("_s") or (".p" in key and "duration" in key):
            out.append((key, f"{fmt(v)} ({human_seconds(v)})" if isinstance(v, int | float) else fmt(v)))
        else:
            out.append((key, v))
    return out


def profile_table(title: str, profiles: dict[str, dict[str, Any]]) -> Table:
    """Profiles side by side (one column per reference)."""
    t = Table(title=title)
    t.add_column("metric", style="bold")
    flat = {name: dict(_flatten(p)) for name, p in profiles.items()}
    keys: list[str] = []
    for f in flat.values():
        keys += [k for k in f if k not in keys]
    for name in flat:
        t.add_column(name, overflow="fold")
    for k in keys:
        t.add_row(k, *(fmt(flat[n].get(k)) for n in flat))
    return t


def _mix(mix: dict[str, float]) -> str:
    return " ".join(f"{k}:{v:.0%}" for k, v in mix.items() if v >= 0.005)


def demo_table(profiles: dict[str, dict[str, Any]]) -> Table:
    """`gpufleet demo`: one readable line per generated table."""
    t = Table(title="synthetic fleet and workload (validated)", show_header=True)
    t.add_column("table", style="bold")
    t.add_column("what", overflow="fold")
    n = profiles.get("nodes")
    if n:
        types = ", ".join(f"{k} {v['gpus']}" for k, v in n["by_gpu_type"].items())
        t.add_row("nodes", f"{n['rows']} nodes, {n['gpus']} GPUs ({types})")
    j = profiles.get("jobs")
    if j:
        d = j["duration_s"]
        t.add_row(
            "jobs",
            f"{j['rows']:,} jobs over {j['span_days']:.1f} days, {j['gpu_hours']:,.0f} GPU-hours; "
            f"GPUs {_mix(j['gpu_mix'])}; run time p50 {human_seconds(d['p50'])}, "
            f"p90 {human_seconds(d['p90'])}, p99 {human_seconds(d['p99'])}; "
            f"arrivals/hour {spark(j['hourly_arrivals'])}",
        )
    r = profiles.get("requests")
    if r:
        t.add_row(
            "requests",
            f"{r['rows']:,} requests over {r['span_hours']:.0f} h, mean {fmt(r['mean_rps'])} req/s, "
            f"peak minute {fmt(r['peak_1min_rps'])} req/s; tokens in p50 "
            f"{fmt(r['input_tokens']['p50'])}, out p50 {fmt(r['output_tokens']['p50'])}",
        )
    s = profiles.get("gpu_samples")
    if s:
        t.add_row(
            "gpu_samples",
            f"{s['rows']:,} samples of {s['devices']} GPUs over {s['span_hours']:.0f} h, "
            f"mean util {s['util_mean']:.0%}, idle {s['idle_share']:.0%} of the time",
        )
    return t


def sim_table(s: Summary) -> Table:
    """`gpufleet simulate`: the summary of one run."""
    t = Table(
        title=f"{s.scheduler} + {s.placement} (predictor {s.predictor}) on {s.cluster_gpus:,.0f} GPUs",
        show_header=False,
    )
    t.add_column("k", style="bold")
    t.add_column("v")
    t.add_row(
        "jobs",
        f"{s.jobs:,} ({s.finished:,} finished, {s.unschedulable:,} unschedulable, "
        f"{s.skipped_unknown_duration:,} without a duration)",
    )
    t.add_row(
        "JCT avg / p50 / p95 / p99",
        " / ".join(human_seconds(x) for x in (s.avg_jct_s, s.p50_jct_s, s.p95_jct_s, s.p99_jct_s)),
    )
    t.add_row(
        "wait avg / p50 / p95 / p99",
        " / ".join(human_seconds(x) for x in (s.avg_wait_s, s.p50_wait_s, s.p95_wait_s, s.p99_wait_s)),
    )
    t.add_row("makespan", human_seconds(s.makespan_s))
    t.add_row("avg GPU allocation", f"{s.avg_gpu_allocation:.1%}")
    t.add_row("avg stranded GPUs", fmt(s.avg_stranded_gpus))
    t.add_row("preemptions", f"{s.preemptions:,}")
    t.add_row("GPU-hours (cluster)", f"{s.gpu_hours:,.0f}")
    if s.priced_by is not None:
        t.add_row("cost (cluster)", f"{cost_cell(s)}  ({s.priced_by})")
    if s.pool is not None:
        p = s.pool
        t.add_row(
            "node pool",
            f"{p.policy}: {p.nodes_added:,} nodes added, {p.nodes_removed:,} removed,"
            f" {p.jobs_preempted_by_scale_down:,} jobs preempted by scale-down",
        )
    t.add_row("simulated", f"{s.events:,} events in {s.wall_s:.2f} s")
    return t


def grid_table(
    rows: list[Summary], title: str = "policy comparison (same jobs, same cluster)", wall: bool = True
) -> Table:
    """`gpufleet compare`: one row per (scheduler, placement, predictor); the best average JCT in green."""
    t = Table(title=title)
    cols = [
        "scheduler",
        "placement",
        "predictor",
        "avg JCT",
        "p95 JCT",
        "avg wait",
        "p95 wait",
        "makespan",
        "alloc",
        "stranded",
        "preempt",
        "unsched",
        "GPU-h",
        "cost",
    ] + (["wall s"] if wall else [])
    for c in cols:
        t.add_column(c, justify="left" if c in ("scheduler", "placement", "predictor") else "right")
    best = min((r.avg_jct_s for r in rows if r.finished), default=None)
    for r in rows:
        cells = [
            r.scheduler,
            r.placement,
            r.predictor,
            human_seconds(r.avg_jct_s),
            human_seconds(r.p95_jct_s),
            human_seconds(r.avg_wait_s),
            human_seconds(r.p95_wait_s),
            human_seconds(r.makespan_s),
            f"{r.avg_gpu_allocation:.1%}",
            fmt(r.avg_stranded_gpus),
            f"{r.preemptions:,}",
            f"{r.unschedulable:,}",
            f"{r.gpu_hours:,.0f}",
            cost_cell(r, whole=True),
        ] + ([f"{r.wall_s:.1f}"] if wall else [])
        t.add_row(*cells, style="bold green" if r.avg_jct_s == best else None)
    return t


def cost_cell(s: Summary, whole: bool = False) -> str:
    """A run's $ as a table cell: the amount, or '-' with the GPU-hours no price covers."""
    if s.cost is None and s.unpriced_gpu_hours:
        return f"- ({s.unpriced_gpu_hours:,.0f} GPU-h unpriced)"
    return dollars(s.cost, whole)


def priced_by(summaries: list[Summary]) -> str | None:
    """The line under a table of runs saying which price table priced them (None when none was priced)."""
    names = sorted({s.priced_by for s in summaries if s.priced_by})
    return f"priced by: {'; '.join(names)}" if names else None


def metrics_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """A generic table of metric rows (models x metrics)."""
    t = Table(title=title)
    cols = list(rows[0]) if rows else []
    for c in cols:
        t.add_column(c, justify="left" if isinstance(rows[0][c], str) else "right")
    for r in rows:
        t.add_row(*(fmt(r[c]) for c in cols))
    return t


def tenancy_tables(summaries: dict[str, Summary], sug: dict[str, Any] | None = None) -> list[Any]:
    """`gpufleet tenancy`: one line and one per-group table per model's summary, then the quota suggestion
    (sim/tenancy.py suggest_quotas)."""
    from rich.text import Text

    from gpufleet.core.units import human_seconds as hs
    from gpufleet.report.groups import group_row

    out: list[Any] = []
    for model, s in summaries.items():
        refused = s.refused_jobs_no_vc
        q = s.quota
        out.append(
            Text.from_markup(
                f"[bold]{model}[/bold]: {s.jobs:,} jobs on {s.cluster_gpus:,.0f} GPUs; avg wait {hs(s.avg_wait_s)},"
                f" p95 wait {hs(s.p95_wait_s)}, avg JCT {hs(s.avg_jct_s)},"
                f" allocation {fmt(s.avg_gpu_allocation)}; {s.gpu_hours:,.0f} GPU-hours, {cost_cell(s)}"
                + (f"; {refused:,} jobs of groups without a VC refused" if refused else "")
                + (f"; {q.reclaim_preemptions:,} reclaim preemptions" if q else "")
                + (f"; {q.jobs_without_queue:,} jobs without a queue" if q and q.jobs_without_queue else "")
            )
        )
        rows = [group_row(g, q is not None) for g in s.groups or []]
        out.append(metrics_table(f"{model}: per group", rows))
    line = priced_by(list(summaries.values()))
    if line:
        out.append(Text(line))
    if sug:
        rows = []
        shared = sug["shared"].get("quotas") or {}
        for g, a in sug["alone"].items():
            rows.append(
                {
                    "group": g,
                    "p95 target": hs(a["target_s"]),
                    "quota alone": a["quota_gpus"] if a["reachable"] else "unreachable",
                    "p95 alone": hs(a["p95_wait_s"]),
                    "quota in a cohort": shared.get(g),
                    "p95 in the cohort": hs(sug["shared"].get("p95_wait_s", {}).get(g)),
                }
            )
        out.append(metrics_table("suggested nominal quotas (GPUs)", rows))
        tot = sug["shared"].get("total_gpus")
        out.append(
            Text(
                f"alone: {sug['alone_total_gpus']:,.0f} GPUs in all; sharing one cohort: "
                + (f"{tot:,.0f} GPUs" if tot is not None else "no saving found")
                + f" (cluster {sug['cluster_gpus']:,.0f}; {sug['simulations']} simulations)"
            )
        )
    return out
