"""`gpufleet report`: one self-contained HTML file for one or more run directories — plotly.js is inlined once,
so the file opens anywhere with no network. A demo directory brings its simulation and serving sub-runs.

Sections: summary table; JCT and wait CDFs; allocation and queue timelines; policy comparison; teams and
quotas (per-group wait, usage vs quota, borrowing); serving replicas vs demand; right-sizing
recommendations; and per run the exact config and the command that reproduces it. A `gpufleet tenancy
--out DIR` folder brings its pooled / partitioned / quota runs.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import yaml

from gpufleet.core.units import human_seconds
from gpufleet.report.groups import group_row
from gpufleet.report.rundir import read_summary, read_table
from gpufleet.report.rundir import run_kind as kind
from gpufleet.sim.summary import ServingSummary, Summary, load

COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left} pre{background:#f7f7f7;padding:.6rem;overflow:auto}
.note{color:#555;font-size:.9rem}
"""


def expand(runs: list[Path]) -> list[Path]:
    """The runs, with a demo directory's sub-runs after it."""
    out: list[Path] = []
    for r in runs:
        if (r / "tenancy.json").is_file() and not (r / "summary.json").is_file():
            out += sorted(p.parent for p in r.glob("*/summary.json"))
            continue
        if not (r / "summary.json").is_file():
            from gpufleet.core.errors import GpufleetError

            raise GpufleetError(f"--run {r}: not a run directory (no summary.json)")
        out.append(r)
        if read_summary(r).get("kind") == "demo":
            out += sorted(p.parent for p in r.glob("*/*/summary.json"))
    return out


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='note'>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return html.escape("" if v is None else str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cdf(values: np.ndarray) -> tuple[list[float], list[float]]:
    v = np.sort(values[np.isfinite(values)])
    if len(v) > 2000:  # a CDF drawn with 2,000 points is indistinguishable and keeps the file small
        idx = np.linspace(0, len(v) - 1, 2000).astype(int)
        return (v[idx] / 3600).tolist(), ((idx + 1) / len(v)).tolist()
    return (v / 3600).tolist(), (np.arange(1, len(v) + 1) / max(len(v), 1)).tolist()


def _fig(fig: go.Figure, n: int) -> str:
    fig.update_layout(height=380, margin={"t": 50, "b": 40}, legend={"orientation": "h"}, template="plotly_white")
    # a fixed div id (plotly draws a random one): the same runs give the same bytes
    return fig.to_html(
        full_html=False,
        include_plotlyjs=n == 0,
        div_id=f"plot-{n}",
        config={"displaylogo": False, "responsive": True},
    )


def build(runs: list[Path], command: str, where: Path | None = None) -> str:
    """The report's HTML; run paths are shown relative to `where` (the report's folder) when inside it."""
    runs = expand(runs)

    def shown(r: Path) -> str:
        if where is not None:
            try:
                return str(r.resolve().relative_to(where.resolve()))
            except ValueError:
                pass
        return str(r)

    summaries = {r: read_summary(r) for r in runs}  # as stored: the kind of each, and the demo's own summary
    sims = [r for r in runs if kind(summaries[r]) == "sim"]
    serving = [r for r in runs if kind(summaries[r]) == "serving"]
    demos = [r for r in runs if kind(summaries[r]) == "demo"]
    sim_s: dict[Path, Summary] = {r: load(summaries[r], r / "summary.json", Summary) for r in sims}
    srv_s: dict[Path, ServingSummary] = {r: load(summaries[r], r / "summary.json", ServingSummary) for r in serving}
    parts: list[str] = []
    figs = 0

    def add(fig: go.Figure) -> None:
        nonlocal figs
        parts.append(f"<div class='figure' id='fig-{figs}'>" + _fig(fig, figs) + "</div>")
        figs += 1

    parts.append("<h2>Summary</h2>")
    rows = []
    for r in sims:
        s = sim_s[r]
        rows.append(
            {
                "run": shown(r),
                "scheduler": s.scheduler,
                "placement": s.placement,
                "GPUs": s.cluster_gpus,
                "jobs": s.jobs,
                "avg JCT": human_seconds(s.avg_jct_s),
                "p95 JCT": human_seconds(s.p95_jct_s),
                "avg wait": human_seconds(s.avg_wait_s),
                "p95 wait": human_seconds(s.p95_wait_s),
                "allocation %": 100 * s.avg_gpu_allocation,
                "unfinished": s.unfinished,
            }
        )
    parts.append("<h3>Training-cluster simulations</h3>" + _table(rows))
    srows = [
        {
            "run": shown(r),
            "policy": srv_s[r].policy,
            "GPU-hours": srv_s[r].gpu_hours,
            "SLO": srv_s[r].slo,
            "SLO attainment %": 100 * srv_s[r].slo_attainment,
            "TTFT p99": human_seconds(srv_s[r].ttft_p99_s),
            "scaling actions": srv_s[r].scaling_actions,
        }
        for r in serving
    ]
    parts.append("<h3>Serving replays</h3>" + _table(srows))

    if sims:
        parts.append("<h2>Job completion time and wait</h2>")
        for metric, title in (("jct", "JCT"), ("wait", "wait")):
            fig = go.Figure()
            for i, r in enumerate(sims):
                j = read_table(r, "jobs", [metric])
                x, y = _cdf(j[metric].cast(pl.Float64).to_numpy())
                fig.add_trace(go.Scatter(x=x, y=y, name=shown(r), line={"color": COLORS[i % 8]}))
            fig.update_layout(title=f"{title} CDF", xaxis_title=f"{title} (hours)", yaxis_title="share of jobs")
            if metric == "jct":
                fig.update_xaxes(type="log")
            add(fig)
        parts.append("<h2>Allocation and queue over time</h2>")
        for col, title, y in (
            ("allocated_gpus", "GPUs allocated", "GPUs"),
            ("queued_jobs", "Jobs waiting", "jobs"),
        ):
            fig = go.Figure()
            for i, r in enumerate(sims):
                t = read_table(r, "timeline")
                if "group" in t.columns:  # a partitioned run: one timeline per VC, summed
                    t = t.group_by("t").agg(pl.col(col).sum()).sort("t")
                t = t.select("t", col)
                if t.height > 3000:
                    t = t.gather_every(t.height // 3000 + 1)
                fig.add_trace(
                    go.Scatter(
                        x=(t["t"] / 3600).to_list(), y=t[col].to_list(), name=shown(r), line={"color": COLORS[i % 8]}
                    )
                )
            fig.update_layout(title=title, xaxis_title="hours", yaxis_title=y)
            add(fig)
        parts.append("<h2>Policy comparison</h2>")
        fig = go.Figure()
        bars = (
            ("avg JCT", [sim_s[r].avg_jct_s for r in sims]),
            ("p95 wait", [sim_s[r].p95_wait_s for r in sims]),
            ("avg wait", [sim_s[r].avg_wait_s for r in sims]),
        )
        for i, (name, seconds) in enumerate(bars):
            fig.add_trace(
                go.Bar(
                    x=[shown(r) for r in sims],
                    y=[v / 3600 for v in seconds],
                    name=name,
                    marker_color=COLORS[i],
                )
            )
        fig.update_layout(title="Completion time and wait by policy", yaxis_title="hours", barmode="group")
        add(fig)

    grouped = [r for r in sims if sim_s[r].groups]
    if grouped:
        _teams(grouped, sim_s, shown, parts, add)

    if serving:
        parts.append("<h2>Serving: replicas vs demand</h2>")
        for r in serving:
            t = read_table(r, "timeline")
            fig = go.Figure()
            fig.add_trace(
                go.Scatter(
                    x=(t["t"] / 3600).to_list(),
                    y=t["replicas"].to_list(),
                    name="replicas serving",
                    line={"color": COLORS[0], "shape": "hv"},
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=(t["t"] / 3600).to_list(),
                    y=t["concurrency"].to_list(),
                    name="requests in flight",
                    yaxis="y2",
                    line={"color": COLORS[1]},
                )
            )
            fig.update_layout(
                title=f"{shown(r)} ({srv_s[r].policy})",
                xaxis_title="hours",
                yaxis_title="replicas",
                yaxis2={"title": "requests in flight", "overlaying": "y", "side": "right"},
            )
            add(fig)

    recs = [rec for d in demos for rec in summaries[d].get("rightsizing", {}).get("recommendations", [])]
    parts.append("<h2>Right-sizing recommendations</h2>")
    parts.append(
        _table(
            [
                {
                    "workload": x["workload"],
                    "GPUs held": x.get("current_gpus"),
                    "proposed": x.get("proposed_mig") or x.get("proposed_gpus"),
                    "GPUs saved": x.get("gpus_saved"),
                    "risk %": None if x.get("risk") is None else 100 * x["risk"],
                    "reason": x["reason"],
                }
                for x in sorted(recs, key=lambda x: -(x.get("gpus_saved") or 0))
            ]
        )
        if recs
        else "<p class='note'>No recommendations in these runs (the demo computes them; so does"
        " `gpufleet rightsize`).</p>"
    )

    parts.append("<h2>Reproduce</h2>")
    parts.append(f"<p>This report: <code>{html.escape(command)}</code></p>")
    for r in runs:
        cfg = (r / "config.yaml").read_text() if (r / "config.yaml").exists() else ""
        how = _command_for(shown(r), summaries[r], sim_s.get(r) or srv_s.get(r), cfg)
        parts.append(
            f"<details><summary>{html.escape(shown(r))}</summary><p><code>{html.escape(how)}</code></p>"
            f"<pre>{html.escape(cfg)}</pre></details>"
        )
    title = "gpufleet report"
    names = ", ".join(shown(r) for r in runs)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head><body>"
        f"<h1>{title}</h1><p class='note'>{len(runs)} run(s): {html.escape(names)}</p>"
        + "".join(parts)
        + "</body></html>"
    )


def _teams(runs: list[Path], summaries: dict[Path, Summary], shown: Any, parts: list[str], add: Any) -> None:
    """Teams and quotas: per-group table per run, p95 wait per group across runs, usage vs quota and
    borrowing over time for quota runs."""
    parts.append("<h2>Teams and quotas</h2>")
    parts.append(
        "<p class='note'>Per group (team, VC or queue). Under quotas, <i>nominal</i> is the queue's quota and"
        " <i>borrowed</i> the GPUs it held above it, lent by idle queues of its cohort; allocation is GPU-hours"
        " held over GPUs owned (or nominal) times the run's span.</p>"
    )
    for r in runs:
        s = summaries[r]
        q = s.quota
        rows = [group_row(g, q is not None) for g in s.groups or []]
        extra = ""
        if q is not None:
            extra = (
                f" — {q.reclaim_preemptions:,} jobs preempted to give lent quota back;"
                f" {q.jobs_without_queue:,} jobs without a queue, {q.jobs_over_quota:,} larger than any quota"
            )
        model = s.model or ("pooled" if q is None else "quota")
        parts.append(f"<h3>{html.escape(shown(r))} ({html.escape(model)}){html.escape(extra)}</h3>" + _table(rows))
    fig = go.Figure()
    for i, r in enumerate(runs):
        gs = summaries[r].groups or []
        fig.add_trace(
            go.Bar(
                x=[str(g.group) for g in gs],
                y=[g.p95_wait_s / 3600 for g in gs],
                name=shown(r),
                marker_color=COLORS[i % 8],
            )
        )
    fig.update_layout(title="p95 wait per group", yaxis_title="hours", barmode="group")
    add(fig)
    for r in runs:
        if summaries[r].quota is None or not (r / "groups.parquet").exists():
            continue
        t = read_table(r, "groups")
        names = sorted(set(t["group"].to_list()))
        steps = t["t"].n_unique()
        if steps > 1500:  # keep the file small: every k-th sample per group
            keep = t["t"].unique().sort().gather_every(steps // 1500 + 1)
            t = t.filter(pl.col("t").is_in(keep.implode()))
        fig = go.Figure()
        for i, g in enumerate(names):
            p = t.filter(pl.col("group") == g)
            x = (p["t"] / 3600).to_list()
            c = COLORS[i % 8]
            fig.add_trace(go.Scatter(x=x, y=p["used_gpus"].to_list(), name=f"{g} used", line={"color": c}))
            fig.add_trace(
                go.Scatter(x=x, y=p["nominal_gpus"].to_list(), name=f"{g} nominal", line={"color": c, "dash": "dash"})
            )
        fig.update_layout(title=f"{shown(r)}: GPUs used vs nominal quota", xaxis_title="hours", yaxis_title="GPUs")
        add(fig)
        fig = go.Figure()
        for i, g in enumerate(names):
            p = t.filter(pl.col("group") == g)
            fig.add_trace(
                go.Scatter(
                    x=(p["t"] / 3600).to_list(),
                    y=p["borrowed_gpus"].to_list(),
                    name=g,
                    stackgroup="b",
                    # fills only: a stacked trace's line runs along the running total, which would paint the
                    # last group's colour on everyone's borrowing
                    line={"color": COLORS[i % 8], "width": 0},
                    fillcolor=COLORS[i % 8],
                )
            )
        fig.update_layout(title=f"{shown(r)}: GPUs borrowed above quota", xaxis_title="hours", yaxis_title="GPUs")
        add(fig)


def _command_for(run: str, raw: dict[str, Any], s: Summary | ServingSummary | None, cfg_text: str) -> str:
    """The command that makes this run again, from what its config recorded (`raw`: the summary as stored,
    `s`: the same, typed, for a replay)."""
    cfg = yaml.safe_load(cfg_text) if cfg_text else {}
    if kind(raw) == "demo":
        return f"gpufleet demo --out {run} --seed {raw.get('seed', 7)}"
    if isinstance(s, Summary) and cfg.get("model"):
        jobs, cluster = cfg.get("jobs", "JOBS"), cfg.get("cluster", "TENANCY.yaml")
        policy = f"--scheduler {s.scheduler} --placement {s.placement}"
        return f"gpufleet tenancy --jobs {jobs} --cluster {cluster} --compare {cfg['model']} {policy}"
    if isinstance(s, Summary):
        jobs, cluster = cfg.get("jobs", "JOBS"), cfg.get("cluster", "CLUSTER")
        extra = f" --predictor {s.predictor}" if s.predictor != "none" else ""
        policy = f"--scheduler {s.scheduler} --placement {s.placement}{extra}"
        return f"gpufleet simulate --jobs {jobs} --cluster {cluster} {policy} --out {run}"
    if isinstance(s, ServingSummary):
        reqs = cfg.get("requests", "REQUESTS")
        return f"gpufleet autoscale-sim --requests {reqs} --policy {s.policy} --slo '{s.slo}' --out {run}"
    return "(unknown run kind)"


def write_report(runs: list[Path], out: Path, command: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build(runs, command, out.parent))
    return out
