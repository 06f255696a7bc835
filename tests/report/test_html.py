"""`gpufleet report`: one self-contained HTML file — the executive summary first, every figure there, plotly.js
inlined once, no network URL, runs named for what they are."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from gpufleet.cli import app


class Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0
        self.figures: list[str] = []
        self.headings: list[str] = []
        self.ids: list[str] = []
        self._h = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for k in ("src", "href", "data", "action", "poster"):
            if a.get(k):
                self.urls.append(a[k] or "")
        if tag == "script":
            self.scripts += 1
        if tag == "div" and a.get("class") == "figure":
            self.figures.append(a.get("id") or "")
        self._h = tag == "h2"
        if a.get("id"):
            self.ids.append(a["id"] or "")

    def handle_data(self, data: str) -> None:
        if self._h:
            self.headings.append(data.strip())
            self._h = False


def test_demo_writes_a_self_contained_report(demo: Path) -> None:
    text = (demo / "report.html").read_text()
    p = Refs()
    p.feed(text)
    sims = len(list((demo / "sim").iterdir()))
    serving = len(list((demo / "serving").iterdir()))
    assert sims >= 2 and serving == 3
    # JCT and wait CDFs, allocation and queue timelines, the comparison and stranded GPUs, p95 wait per team (the
    # synthetic jobs carry teams); one replicas-vs-demand per replay; the demand forecast
    assert len(p.figures) == 7 + serving + 1
    assert text.count("Plotly.newPlot(") == len(p.figures)
    assert not [u for u in p.urls if u.startswith(("http:", "https:", "//"))], "no network URL in src/href"
    assert text.count("plotly.js v") >= 1 and len(text) > 3_000_000, "plotly.js is inlined"
    # the executive summary comes first, before any other section, and each line links to its evidence
    assert p.headings[0] == "Executive summary"
    summary = text[text.index("id='executive-summary'") : text.index("</section>")]
    assert summary.count("<li>") == 3  # packing, right-sizing, autoscaling (the demo has no capacity answer)
    assert summary.count("class='usd'>$") == 3 and "/month" in summary
    for anchor in ("policy-comparison", "rightsizing", "serving"):
        assert f"href='#{anchor}'" in summary and anchor in p.ids
    # runs are named for what they are: the demo by its directory, never "."
    assert "run(s): demo, " in text and "fifo + worst-fit" in text and ">.<" not in text
    # one per-group table for the seven runs that share the teams, not seven copies
    assert text.count("p95 wait per group under 7 runs") == 1 and text.count("<td>team-03</td>") == 1
    for h in (
        "Executive summary",
        "Per GPU type",
        "Runs",
        "Demand forecast",
        "Job completion time and wait",
        "Allocation and queue over time",
        "Policy comparison",
        "Teams and quotas",
        "Serving: replicas vs demand",
        "Right-sizing recommendations",
        "Reproduce",
    ):
        assert h in p.headings
    assert "gpufleet simulate --jobs synthetic:jobs --cluster synthetic:nodes" in text
    assert "gpufleet autoscale-sim --requests synthetic:requests --policy predictive" in text


def test_report_command_on_two_runs_and_a_bad_one(demo: Path, tmp_path: Path) -> None:
    runs = sorted((demo / "sim").iterdir())[:2]
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", "--run", str(runs[0]), "--run", str(runs[1]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    p = Refs()
    p.feed(out.read_text())
    text = out.read_text()
    assert len(p.figures) == 7 and runs[0].name in text  # the six of a comparison + p95 wait per team
    assert text.index("Executive summary") < text.index("Per GPU type")  # the demo's nodes priced per type
    res = CliRunner().invoke(app, ["report", "--run", str(tmp_path), "--out", str(out)])
    assert res.exit_code == 2 and "not a run directory" in res.output


def test_report_on_a_tenancy_comparison_has_per_group_tables_and_quota_charts(tmp_path: Path) -> None:
    import polars as pl

    from gpufleet.traces import load

    jobs = load("synthetic:jobs", n_jobs=400).frame.filter(pl.col("num_gpus") <= 8)
    jobs = jobs.with_columns(
        pl.lit(None, pl.String).alias("gpu_type"),
        (pl.lit("team-") + (pl.col("job_id").str.extract(r"(\d+)$").cast(pl.Int64) % 3).cast(pl.String)).alias("group"),
    )
    jobs.write_parquet(tmp_path / "jobs.parquet")
    (tmp_path / "t.yaml").write_text("nodes: 6x8:A100\nvcs: {team-0: 2, team-1: 2, team-2: 2}\n")
    ten = tmp_path / "ten"
    res = CliRunner().invoke(
        app,
        [
            "tenancy",
            "--jobs",
            str(tmp_path / "jobs.parquet"),
            "--cluster",
            str(tmp_path / "t.yaml"),
            "--compare",
            "pooled,partitioned,quota",
            "--out",
            str(ten),
        ],
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", "--run", str(ten), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    p = Refs()
    p.feed(text)
    assert "Teams and quotas" in p.headings
    # CDFs (2), timelines (2), comparison and stranded GPUs, p95 wait per group, and for the quota run usage vs
    # nominal + borrowed
    assert len(p.figures) == 6 + 1 + 2
    for s in ("GPUs used vs nominal quota", "GPUs borrowed above quota", "peak borrowed", "team-2 nominal"):
        assert s in text
    assert "gpufleet tenancy --jobs" in text and "--compare quota" in text
