"""`gpufleet report`: one self-contained HTML file for one or more run directories — plotly.js is inlined once,
so the file opens anywhere with no network. A demo directory brings its simulation and serving sub-runs; a
`gpufleet tenancy --out DIR` folder its pooled / partitioned / quota runs, a `gpufleet compare --out DIR` (or
compare-autoscalers) folder its runs. Every figure can also be written on its own (report/figures.py).

Sections, first screen first: the executive summary (the recommendations, each with its $ per month and a link
to its evidence: summary.py), the per-GPU-type view (gputypes.py), then the evidence: run tables, JCT and wait
CDFs, allocation and queue timelines, the policy comparison, teams and quotas (one table per group kind:
tables.py), serving replicas vs demand, the demand forecast with its intervals, right-sizing, and per run the
exact config and the command that reproduces it. Charts: charts.py.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from gpufleet.core.prices import PriceTable, default_prices
from gpufleet.core.units import human_seconds
from gpufleet.report import charts, summary
from gpufleet.report.gputypes import gpus_by_type, nodes_for, per_type_rows
from gpufleet.report.reproduce import command_for, provenance_html
from gpufleet.report.rundir import read_summary, read_table
from gpufleet.report.rundir import run_kind as kind
from gpufleet.report.tables import group_tables, table
from gpufleet.sim.summary import ServingSummary, Summary, load

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.2rem auto;max-width:1200px;color:#222;
 padding:0 1rem}
h1{margin:.2rem 0} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem} h4{margin:1rem 0 0}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left} pre{background:#f7f7f7;padding:.6rem;overflow:auto}
.note{color:#555;font-size:.9rem} .wide{overflow-x:auto}
#executive-summary{background:#f5f9fc;border:1px solid #cfe0ee;border-radius:6px;padding:.2rem 1rem .6rem}
#executive-summary h2{margin-top:.6rem;border:none} .recs li{margin:.45rem 0} .usd{font-variant-numeric:tabular-nums}
"""


# the files that mark a folder of run directories (one per model of tenancy, per pair of compare)
GRID_FILES = ("tenancy.json", "compare.json", "provenance.json")


def expand(runs: list[Path]) -> list[Path]:
    """The runs, with a demo directory's sub-runs after it, and a folder of runs (tenancy, compare) as its runs."""
    out: list[Path] = []
    for r in runs:
        subs = sorted(p.parent for p in r.glob("*/summary.json"))
        if not (r / "summary.json").is_file() and subs and any((r / f).is_file() for f in GRID_FILES):
            out += subs
            continue
        if not (r / "summary.json").is_file():
            from gpufleet.core.errors import GpufleetError

            raise GpufleetError(
                f"--run {r}: not a run directory (no summary.json, and no runs of compare or tenancy under it)"
            )
        out.append(r)
        if read_summary(r).get("kind") == "demo":
            out += sorted(p.parent for p in r.glob("*/*/summary.json"))
    return out


class _Page:
    """The report's parts in order, and its figures numbered as they come."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figs = 0
        self.figures: list[tuple[str, Any]] = []  # (title, figure) of each chart, for report/figures.py

    def add(self, text: str) -> None:
        self.parts.append(text)

    def chart(self, fig: Any, title: str) -> None:
        self.parts.append(charts.figure_html(fig, self.figs, title))
        self.figures.append((title, fig))
        self.figs += 1


def build(runs: list[Path], command: str, where: Path | None = None, prices: PriceTable | None = None) -> str:
    """The report's HTML; run paths are shown relative to `where` (the report's folder) when inside it."""
    return build_page(runs, command, where, prices)[0]


def build_page(
    runs: list[Path], command: str, where: Path | None = None, prices: PriceTable | None = None
) -> tuple[str, list[tuple[str, Any]]]:
    """The report's HTML and its figures, (title, plotly figure) in the report's order."""
    runs = expand(runs)
    prices = prices or default_prices()

    def shown(r: Path) -> str:
        if where is not None:
            try:
                return str(r.resolve().relative_to(where.resolve()))
            except ValueError:
                pass
        return str(r)

    raw = {r: read_summary(r) for r in runs}  # as stored: the kind of each, and the demo's own summary
    names = dict(zip(runs, summary.unique_labels([summary.run_label(raw[r], r) for r in runs], runs), strict=True))
    sims = [r for r in runs if kind(raw[r]) == "sim"]
    serving = [r for r in runs if kind(raw[r]) == "serving"]
    demos = [r for r in runs if kind(raw[r]) == "demo"]
    sim_s: dict[Path, Summary] = {r: load(raw[r], r / "summary.json", Summary) for r in sims}
    srv_s: dict[Path, ServingSummary] = {r: load(raw[r], r / "summary.json", ServingSummary) for r in serving}
    nodes = next((n for r in [*demos, *sims] if (n := nodes_for(r)) is not None), None)
    fleet = gpus_by_type(nodes) if nodes is not None else {}
    recs = [rec for d in demos for rec in raw[d].get("rightsizing", {}).get("recommendations", [])]
    page = _Page()

    found = [
        summary.capacity(runs),
        summary.rightsizing(recs, prices),
        summary.packing({names[r]: sim_s[r] for r in sims}, prices, fleet),
        summary.autoscaling({names[r]: srv_s[r] for r in serving}, prices),
    ]
    page.add(summary.summary_html(summary.rank([x for x in found if x is not None]), html.escape))
    if nodes is not None and sims:
        _gpu_types(page, sims, sim_s, names, nodes, prices)
    if found[0] is not None:
        _capacity(page, runs)
    _runs_tables(page, sims, sim_s, serving, srv_s, names, prices, fleet)
    if sims:
        _training(page, sims, sim_s, names)
    grouped = [(names[r], sim_s[r]) for r in sims if sim_s[r].groups]
    if grouped:
        _teams(page, [r for r in sims if sim_s[r].groups], sim_s, names)
    if serving:
        page.add("<h2 id='serving'>Serving: replicas vs demand</h2>")
        for r in serving:
            page.chart(charts.serving_chart(r), f"{names[r]}: replicas serving and requests in flight")
    for d in demos:
        _forecast(page, d, raw[d])
    _rightsizing(page, recs, prices)

    page.add("<h2 id='reproduce'>Reproduce</h2>")
    page.add(f"<p>This report: <code>{html.escape(command)}</code></p>")
    for r in runs:
        cfg = (r / "config.yaml").read_text() if (r / "config.yaml").exists() else ""
        path = str(r) if kind(raw[r]) == "demo" else shown(r)
        how = command_for(path, raw[r], sim_s.get(r) or srv_s.get(r), cfg)
        page.add(
            f"<details><summary>{html.escape(names[r])} <span class='note'>({html.escape(shown(r))})</span>"
            f"</summary><p><code>{html.escape(how)}</code></p>{provenance_html(r, path)}<pre>{html.escape(cfg)}</pre>"
            "</details>"
        )
    title = "gpufleet report"
    listed = ", ".join(names[r] for r in runs)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head><body>"
        f"<h1>{title}</h1><p class='note'>{len(runs)} run(s): {html.escape(listed)}</p>"
        + "".join(page.parts)
        + "</body></html>"
    ), page.figures


def _gpu_types(
    page: _Page,
    sims: list[Path],
    sim_s: dict[Path, Summary],
    names: dict[Path, str],
    nodes: pl.DataFrame,
    prices: PriceTable,
) -> None:
    """Per GPU type, under the run with the lowest p95 wait among those that finished every job."""
    done = [r for r in sims if sim_s[r].unfinished == 0] or sims
    best = min(done, key=lambda r: sim_s[r].p95_wait_s)
    page.add(
        "<h2 id='gpu-types'>Per GPU type</h2><p class='note'>The fleet's GPUs per type, and what the replay with"
        f" the lowest p95 wait (<b>{html.escape(names[best])}</b>) ran on them; $ at {html.escape(prices.name)}.</p>"
    )
    page.add(table(per_type_rows(best, sim_s[best], nodes, prices)))


def _capacity(page: _Page, runs: list[Path]) -> None:
    import json

    page.add("<h2 id='capacity'>Capacity answer</h2>")
    for r in runs:
        f = r / summary.CAPACITY_FILE
        if f.is_file():
            d = json.loads(f.read_text())
            flat = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in d.items() if not isinstance(v, list)}
            page.add(table([{"field": k, "value": v} for k, v in flat.items()]))
            for k, v in d.items():
                if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                    page.add(f"<h4>{html.escape(k)}</h4>" + table(v))


def _fleet_month(s: Summary, prices: PriceTable, inventory_rate: float | None) -> float | None:
    """A run's fleet at `prices` for a month: its own GPU types (weighted by the GPU-hours it ran on each) when the
    summary has them, else the report's node inventory; None when a type is unpriced."""
    rate = summary.fleet_rate(prices, s.gpu_hours_by_type) if s.gpu_hours_by_type else inventory_rate
    return None if rate is None else s.cluster_gpus * summary.HOURS_PER_MONTH * rate


def _runs_tables(
    page: _Page,
    sims: list[Path],
    sim_s: dict[Path, Summary],
    serving: list[Path],
    srv_s: dict[Path, ServingSummary],
    names: dict[Path, str],
    prices: PriceTable,
    fleet: dict[str, float],
) -> None:
    rate = summary.fleet_rate(prices, fleet)
    rows = []
    for r in sims:
        s = sim_s[r]
        rows.append(
            {
                "run": names[r],
                "GPUs": s.cluster_gpus,
                "jobs": s.jobs,
                "avg JCT": human_seconds(s.avg_jct_s),
                "p95 JCT": human_seconds(s.p95_jct_s),
                "avg wait": human_seconds(s.avg_wait_s),
                "p95 wait": human_seconds(s.p95_wait_s),
                "allocation %": 100 * s.avg_gpu_allocation,
                "stranded GPUs": s.avg_stranded_gpus,
                "unfinished": s.unfinished,
                "fleet $/month": _fleet_month(s, prices, rate),
            }
        )
    page.add("<h2 id='runs'>Runs</h2><h3>Training-cluster simulations</h3>" + table(rows))
    srows = []
    for r in serving:
        v = srv_s[r]
        rate_s = prices.rate(v.gpu_type)
        srows.append(
            {
                "run": names[r],
                "GPU": v.gpu_type,
                "GPU-hours": v.gpu_hours,
                "$ of the replay": None if rate_s is None else v.gpu_hours * rate_s,
                "SLO": v.slo,
                "SLO attainment %": 100 * v.slo_attainment,
                "TTFT p99": human_seconds(v.ttft_p99_s),
                "scaling actions": v.scaling_actions,
            }
        )
    page.add("<h3>Serving replays</h3>" + table(srows))


def _training(page: _Page, sims: list[Path], sim_s: dict[Path, Summary], names: dict[Path, str]) -> None:
    labelled = [(r, names[r]) for r in sims]
    page.add("<h2 id='jct'>Job completion time and wait</h2>")
    page.chart(charts.cdf_chart(labelled, "jct", "JCT"), "Job completion time, CDF (log scale)")
    page.chart(charts.cdf_chart(labelled, "wait", "wait"), "Wait before the first start, CDF")
    page.add("<h2 id='timelines'>Allocation and queue over time</h2>")
    page.chart(charts.timeline_chart(labelled, "allocated_gpus", "GPUs allocated"), "GPUs allocated")
    page.chart(charts.timeline_chart(labelled, "queued_jobs", "jobs waiting"), "Jobs waiting")
    page.add("<h2 id='policy-comparison'>Policy comparison</h2>")
    series = [
        ("avg JCT", [sim_s[r].avg_jct_s / 3600 for r in sims]),
        ("p95 wait", [sim_s[r].p95_wait_s / 3600 for r in sims]),
        ("avg wait", [sim_s[r].avg_wait_s / 3600 for r in sims]),
    ]
    page.chart(charts.bars([names[r] for r in sims], series, "hours"), "Completion time and wait by policy")
    page.chart(
        charts.bars([names[r] for r in sims], [("stranded GPUs", [sim_s[r].avg_stranded_gpus for r in sims])], "GPUs"),
        "GPUs stranded by fragmentation (free, but no waiting job fits), mean over the run",
    )


def _teams(page: _Page, runs: list[Path], sim_s: dict[Path, Summary], names: dict[Path, str]) -> None:
    """Teams and quotas: one per-group table per group kind, p95 wait per group across runs, usage vs quota
    and borrowing over time for quota runs."""
    page.add("<h2 id='teams'>Teams and quotas</h2>")
    page.add(
        "<p class='note'>Per group (team, VC or queue). Under quotas, <i>nominal</i> is the queue's quota and"
        " <i>borrowed</i> the GPUs it held above it, lent by idle queues of its cohort; allocation is GPU-hours"
        " held over GPUs owned (or nominal) times the run's span.</p>"
    )
    page.add(group_tables([(names[r], sim_s[r]) for r in runs]))
    groups = sorted({str(g.group) for r in runs for g in sim_s[r].groups or []})
    series = []
    for r in runs:
        by = {str(g.group): g.p95_wait_s / 3600 for g in sim_s[r].groups or []}
        series.append((names[r], [by.get(g, 0.0) for g in groups]))
    page.chart(charts.bars(groups, series, "hours"), "p95 wait per group")
    for r in runs:
        if sim_s[r].quota is None or not (r / "groups.parquet").exists():
            continue
        _quota_charts(page, r, names[r])


def _quota_charts(page: _Page, r: Path, name: str) -> None:
    import plotly.graph_objects as go

    t = read_table(r, "groups")
    groups = sorted(set(t["group"].to_list()))
    steps = t["t"].n_unique()
    if steps > 1500:  # keep the file small: every k-th sample per group
        keep = t["t"].unique().sort().gather_every(steps // 1500 + 1)
        t = t.filter(pl.col("t").is_in(keep.implode()))
    used, borrowed = go.Figure(), go.Figure()
    for i, g in enumerate(groups):
        p = t.filter(pl.col("group") == g)
        x, c = (p["t"] / 3600).to_list(), charts.COLORS[i % 8]
        used.add_trace(go.Scatter(x=x, y=p["used_gpus"].to_list(), name=f"{g} used", line={"color": c}))
        used.add_trace(
            go.Scatter(x=x, y=p["nominal_gpus"].to_list(), name=f"{g} nominal", line={"color": c, "dash": "dash"})
        )
        # fills only: a stacked trace's line runs along the running total, which would paint the last group's
        # colour on everyone's borrowing
        borrowed.add_trace(
            go.Scatter(
                x=x, y=p["borrowed_gpus"].to_list(), name=g, stackgroup="b", line={"color": c, "width": 0}, fillcolor=c
            )
        )
    for fig in (used, borrowed):
        fig.update_layout(xaxis_title="hours", yaxis_title="GPUs")
    page.chart(used, f"{name}: GPUs used vs nominal quota")
    page.chart(borrowed, f"{name}: GPUs borrowed above quota")


def _forecast(page: _Page, demo: Path, raw: dict[str, Any]) -> None:
    if not (demo / "forecast.parquet").is_file():
        return
    fc = read_table(demo, "forecast")
    info = raw.get("demand_forecast", {})
    page.add(
        "<h2 id='forecast'>Demand forecast</h2><p class='note'>"
        f"{html.escape(str(info.get('series', 'the fleet demand series')))}: the last two days observed and the"
        f" next {fc.height} steps forecast, with 80% and 95% intervals.</p>"
    )
    page.chart(charts.forecast_chart(charts.history_of(demo), fc), "Fleet GPU utilization: observed and forecast")
    bt = raw.get("demand_backtest") or []
    if bt:
        keep = [k for k in bt[0] if k in ("model", "mae", "rmse", "mase", "coverage_80", "coverage_95", "smape")]
        page.add(
            "<h4>Backtest of the forecasters (rolling origins)</h4>" + table([{k: x.get(k) for k in keep} for x in bt])
        )


def _rightsizing(page: _Page, recs: list[dict[str, Any]], prices: PriceTable) -> None:
    page.add("<h2 id='rightsizing'>Right-sizing recommendations</h2>")
    if not recs:
        page.add(
            "<p class='note'>No recommendations in these runs (the demo computes them; so does"
            " `gpufleet rightsize`).</p>"
        )
        return
    rows = []
    for x in sorted(recs, key=lambda x: -(x.get("gpus_saved") or 0)):
        rate = prices.rate(x.get("gpu_model"))
        saved_h = summary.DAYS_PER_MONTH * float(x.get("gpu_hours_saved_per_day") or 0)
        rows.append(
            {
                "workload": x["workload"],
                "GPU": x.get("gpu_model"),
                "GPUs held": x.get("current_gpus"),
                "proposed": x.get("proposed_mig") or x.get("proposed_gpus"),
                "GPUs saved": x.get("gpus_saved"),
                "GPU-hours saved/month": saved_h,
                "$ saved/month": None if rate is None else saved_h * rate,
                "risk %": None if x.get("risk") is None else 100 * x["risk"],
                "reason": x["reason"],
            }
        )
    page.add(table(rows))


def write_report(
    runs: list[Path],
    out: Path,
    command: str,
    prices: PriceTable | None = None,
    figures: Path | None = None,
    formats: tuple[str, ...] = (),
) -> Path:
    """Build the report and write it whole (a crash leaves the previous file or the new one, never half), and
    with `figures` each of its figures in `formats` there (report/figures.py)."""
    from gpufleet.report.figures import export

    out.parent.mkdir(parents=True, exist_ok=True)
    text, figs = build_page(runs, command, out.parent, prices)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    if figures is not None:
        export(figs, figures, formats)
    return out
