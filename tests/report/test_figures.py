"""`gpufleet report` on a compare and a tenancy directory, and every figure on its own: its data as CSV (the
points the chart draws), standalone HTML, and PNG/SVG/PDF through kaleido and a real Chromium (integration)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.report.figures import browser, figure_frame, parse_formats, slug

runner = CliRunner()
SYN = ["--jobs", "synthetic:jobs", "-p", "n_jobs=150", "-p", "days=1"]


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grid") / "cmp"
    _ok("compare", *SYN, "--cluster", "4x8:A100", "--schedulers", "fifo,sjf", "--workers", "1", "--out", str(out))
    return out


def test_report_takes_a_compare_directory(grid: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    _ok("report", "--run", str(grid), "--out", str(out))
    text = out.read_text()
    assert "2 run(s): fifo + best-fit, sjf + best-fit + oracle" in text
    # each run's Reproduce entry says what made it and how to check it
    assert text.count("gpufleet rerun ") == 2 and "compare --jobs synthetic:jobs" in text


def test_report_takes_a_tenancy_directory(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("nodes: 4x8:A100\nvcs: {team-00: 2, team-01: 2}\n")
    ten = tmp_path / "ten"
    _ok("tenancy", *SYN, "--cluster", str(tmp_path / "t.yaml"), "--out", str(ten))
    _ok("report", "--run", str(ten), "--out", str(tmp_path / "t.html"))
    text = (tmp_path / "t.html").read_text()
    assert "3 run(s)" in text and all(m in text for m in ("pooled", "partitioned", "quota"))


def test_a_folder_without_runs_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["report", "--run", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 2 and "not a run directory" in r.output


def test_figures_as_csv_hold_the_charts_points(grid: Path, tmp_path: Path) -> None:
    figs = tmp_path / "figs"
    printed = _ok("report", "--run", str(grid), "--out", str(tmp_path / "r.html"), "--figures", str(figs),
                  "--format", "csv,html")  # fmt: skip
    assert "figures written" in printed
    names = sorted(p.name for p in figs.iterdir())
    assert "01-job-completion-time-cdf-log-scale.csv" in names and "03-gpus-allocated.html" in names
    assert len([n for n in names if n.endswith(".csv")]) == len([n for n in names if n.endswith(".html")]) >= 6
    cdf = pl.read_csv(figs / "01-job-completion-time-cdf-log-scale.csv")
    assert cdf.columns == ["series", "JCT (hours)", "share of jobs"]
    for label, run in (("fifo + best-fit", "fifo__best-fit"), ("sjf + best-fit + oracle", "sjf__best-fit")):
        mine = cdf.filter(pl.col("series") == label)
        jobs = pl.read_parquet(grid / run / "jobs.parquet").filter(pl.col("status") == "finished")
        assert mine.height == jobs.height and mine["share of jobs"].max() == 1.0
        assert mine["JCT (hours)"].max() == pytest.approx(jobs["jct"].max() / 3600)
    bars = pl.read_csv(figs / "05-completion-time-and-wait-by-policy.csv")
    assert set(bars.columns) == {"series", "hours", "category"}
    summary = json.loads((grid / "sjf__best-fit" / "summary.json").read_text())
    row = bars.filter((pl.col("series") == "p95 wait") & (pl.col("category") == "sjf + best-fit + oracle"))
    assert row["hours"].item() == pytest.approx(summary["p95_wait_s"] / 3600)
    page = (figs / "03-gpus-allocated.html").read_text()
    assert page.startswith("<!doctype html>") and 'src="http' not in page  # plotly.js inlined: no network


def test_formats_and_a_missing_browser_are_one_line(
    grid: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_formats("SVG, csv,svg") == ["svg", "csv"] and slug(0, "GPUs allocated!") == "01-gpus-allocated"
    args = ["report", "--run", str(grid), "--out", str(tmp_path / "r.html"), "--figures", str(tmp_path / "f")]
    r = runner.invoke(app, [*args, "--format", "png,tiff"])
    assert r.exit_code == 2 and "--format 'png,tiff'" in r.output
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))  # kaleido's override: a browser that is not there
    assert browser() is None
    r = runner.invoke(app, [*args, "--format", "png"])
    assert r.exit_code == 2 and "Chrome or Chromium" in r.output and not (tmp_path / "r.html").exists()


def test_a_figure_on_a_second_axis_gets_its_own_column() -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[2, 3], name="replicas"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[5, 7], name="in flight", yaxis="y2"))
    fig.update_layout(xaxis_title="hours", yaxis_title="replicas", yaxis2={"title": "requests", "overlaying": "y"})
    f = figure_frame(fig)
    assert f.columns == ["series", "hours", "replicas", "requests"]
    assert f["requests"].to_list() == [None, None, 5, 7]


@pytest.mark.integration  # starts Chromium (kaleido)
def test_png_svg_and_pdf_through_kaleido(grid: Path, tmp_path: Path) -> None:
    if browser() is None:
        pytest.skip("no Chrome/Chromium for kaleido (Debian: apt install chromium)")
    figs = tmp_path / "figs"
    _ok("report", "--run", str(grid / "fifo__best-fit"), "--out", str(tmp_path / "r.html"),
        "--figures", str(figs), "--format", "png,svg,pdf")  # fmt: skip
    stems = sorted({p.stem for p in figs.iterdir()})
    assert len(stems) >= 6
    for stem in stems:
        assert (figs / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (figs / f"{stem}.svg").read_bytes()[:400]
        assert (figs / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    assert not [p for p in figs.iterdir() if p.name.startswith(".")]  # no temporary file left behind
