"""The command line through typer's runner: list, show, convert, compare, demo."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.traces import DATASETS

runner = CliRunner()


def run(*args: str) -> dict:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout) if "--json" in args else {"text": r.stdout}


@pytest.mark.traces
def test_list_shows_every_dataset(data_dir: Path) -> None:
    out = run("--data-dir", str(data_dir), "traces", "list", "--json")
    names = [d["name"] for d in out["datasets"]]
    assert names == DATASETS.names() and len(names) == 10
    assert all(d["found"] in ("yes", "built in") for d in out["datasets"])
    text = run("--data-dir", str(data_dir), "traces", "list")["text"]
    for n in names:
        assert n in text


def test_list_without_data_dir_still_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUFLEET_DATA", raising=False)
    monkeypatch.setattr("gpufleet.core.datadir.checkout_traces", lambda: None)  # no shared/traces beside us
    out = run("traces", "list", "--json")
    assert out["data_dir"] is None
    assert {d["found"] for d in out["datasets"]} == {"no data dir", "built in"}


@pytest.mark.traces
@pytest.mark.parametrize(
    ("ref", "rows", "table"),
    [
        ("itp:cluster04", 15802, "JOBS"),
        ("openb:default", 8152, "JOBS"),
        ("openb:nodes", 1523, "NODES"),
        ("azure-llm:code", 8819, "REQUESTS"),
        ("helios:vc8Sj", 6 * 44640, "SERIES"),
    ],
)
def test_show_json_reports_rows(data_dir: Path, ref: str, rows: int, table: str) -> None:
    out = run("--data-dir", str(data_dir), "traces", "show", ref, "--json")
    assert out["meta"]["rows"] == rows and out["meta"]["table"] == table
    assert out["profile"]["rows"] == rows
    assert out["meta"]["license"] and out["meta"]["source"]


@pytest.mark.traces
def test_show_text_has_profile(data_dir: Path) -> None:
    text = run("--data-dir", str(data_dir), "traces", "show", "itp:cluster04")["text"]
    assert "15,802" in text and "gpu_mix.8" in text and "arrivals by hour" in text


@pytest.mark.traces
def test_convert_round_trips(data_dir: Path, tmp_path: Path) -> None:
    dst = tmp_path / "c4.parquet"
    out = run("--data-dir", str(data_dir), "traces", "convert", "itp:cluster04", "--out", str(dst), "--json")
    assert out["rows"] == 15802
    df = pl.read_parquet(dst)
    assert df.height == 15802 and df["num_gpus"].sum() == pytest.approx(
        11924 + 2 * 125 + 4 * 532 + 8 * 2779 + 16 * 182 + 32 * 254 + 64 * 6
    )


@pytest.mark.traces
def test_compare_needs_same_table(data_dir: Path) -> None:
    r = runner.invoke(app, ["--data-dir", str(data_dir), "traces", "compare", "itp:cluster04", "openb:nodes"])
    assert r.exit_code == 2 and "cannot compare different tables" in r.stderr


@pytest.mark.traces
def test_compare_side_by_side(data_dir: Path) -> None:
    out = run("--data-dir", str(data_dir), "traces", "compare", "philly:jobs", "itp:cluster04", "--json")
    p = out["profiles"]
    assert set(p) == {"philly:jobs", "itp:cluster04"}
    assert p["philly:jobs"]["jobs_per_user"]["users"] == 136 and p["itp:cluster04"]["jobs_per_user"] is None
    assert len(p["itp:cluster04"]["hourly_arrivals"]) == 24
    assert sum(p["itp:cluster04"]["hourly_arrivals"]) == pytest.approx(1.0)


def test_bad_param_is_one_line_error() -> None:
    r = runner.invoke(app, ["traces", "show", "synthetic:jobs", "--param", "oops"])
    assert r.exit_code == 2 and "KEY=VALUE" in r.stderr


@pytest.mark.slow
def test_demo_writes_a_reproducible_run_dir(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    out = run("demo", "--out", str(a), "--json")
    assert out["rows"]["jobs"] == 5000 and out["rows"]["nodes"] == 64
    assert {
        "summary.json",
        "config.yaml",
        "jobs.parquet",
        "nodes.parquet",
        "requests.parquet",
        "gpu_samples.parquet",
    } <= set(out["files"])
    run("demo", "--out", str(b), "--json")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) >= 7 + 7 * 4  # the tables plus one run directory per simulated policy
    assert any(f.name == "timing.json" for f in files), "the wall times have a file of their own"
    for f in files:
        if f.name in ("timing.json", "provenance.json"):  # when and how it ran, kept apart from what it computed
            continue
        da, db = (a / f).read_bytes(), (b / f).read_bytes()
        if f.name in ("config.yaml", "report.html"):  # they record their own out_dir: the intended difference
            da, db = da.replace(str(a).encode(), b"OUT"), db.replace(str(b).encode(), b"OUT")
        assert da == db, f"{f} differs between identical runs"
    sims = out["simulations"]
    assert [s["scheduler"] for s in sims] == ["fifo", "fifo-backfill", "sjf", "sjf", "qssf", "tiresias", "fifo"]
    assert all(s["finished"] + s["unschedulable"] == 5000 for s in sims)
    assert [r["model"] for r in out["runtime_backtest"]] == [
        "user-history",
        "gpu-class",
        "lightgbm",
        "xgb-aft",
        "auto",
        "oracle",
    ]  # the baselines beside the models
    assert {r["model"] for r in out["demand_backtest"]} == {"naive-last", "window-mean", "seasonal-naive", "lightgbm"}
    assert pl.read_parquet(a / "forecast.parquet").height == 36
    text = run("demo", "--out", str(tmp_path / "c"), "--seed", "8")["text"]
    assert "outputs in" in text and "make dashboard" in text
    assert (tmp_path / "c" / "jobs.parquet").read_bytes() != (a / "jobs.parquet").read_bytes()


@pytest.mark.traces
def test_compare_synthetic_with_itp(data_dir: Path) -> None:
    out = run(
        "--data-dir",
        str(data_dir),
        "traces",
        "compare",
        "synthetic:jobs",
        "itp:cluster04",
        "-p",
        "n_jobs=20000",
        "--json",
    )
    syn, itp = out["profiles"]["synthetic:jobs"], out["profiles"]["itp:cluster04"]
    assert syn["rows"] == 20000
    for k in ("1", "8"):
        assert abs(syn["gpu_mix"][k] - itp["gpu_mix"][k]) < 0.03
    assert 1 / 1.5 < syn["duration_s"]["p50"] / itp["duration_s"]["p50"] < 1.5
