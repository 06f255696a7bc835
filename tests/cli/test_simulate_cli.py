"""`gpufleet simulate` and `gpufleet compare` through typer's runner."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app

runner = CliRunner()
SYN = ["--jobs", "synthetic:jobs", "-p", "n_jobs=400", "-p", "days=2"]
CLUSTER = ["--cluster", "8x8:A100,8x8:H100,8x8:V100,4x4:A10,4x4:T4"]


def test_simulate_writes_run_dir_and_is_byte_identical(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        r = runner.invoke(
            app, ["simulate", *SYN, *CLUSTER, "--scheduler", "tiresias", "--out", str(tmp_path / name), "--json"]
        )
        assert r.exit_code == 0, r.output
        outs.append(json.loads(r.stdout))
    assert outs[0]["jobs"] == 400 and outs[0]["finished"] + outs[0]["unschedulable"] == 400
    for f in ("summary.json", "jobs.parquet", "timeline.parquet", "config.yaml"):
        a, b = (tmp_path / "a" / f).read_bytes(), (tmp_path / "b" / f).read_bytes()
        if f == "summary.json":  # wall time is the one field that may differ
            a, b = (json.dumps({k: v for k, v in json.loads(x).items() if k != "wall_s"}).encode() for x in (a, b))
        assert a == b, f
    jobs = pl.read_parquet(tmp_path / "a" / "jobs.parquet")
    assert {"job_id", "submit", "start", "finish", "wait", "jct", "slowdown", "preemptions", "nodes"} <= set(
        jobs.columns
    )
    tl = pl.read_parquet(tmp_path / "a" / "timeline.parquet")
    assert tl["t"].diff().drop_nulls().unique().to_list() == [60.0]


def test_simulate_text_output(tmp_path: Path) -> None:
    r = runner.invoke(app, ["simulate", *SYN, "--cluster", "16x8", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert "JCT avg" in r.stdout and "run directory" in r.stdout


@pytest.mark.traces
def test_simulate_itp_cluster04_json(data_dir: Path, tmp_path: Path) -> None:
    # the done-when command
    r = runner.invoke(
        app,
        [
            "--data-dir",
            str(data_dir),
            "simulate",
            "--jobs",
            "itp:cluster04",
            "--cluster",
            "64x8:V100",
            "--scheduler",
            "fifo",
            "--placement",
            "best-fit",
            "--out",
            str(tmp_path / "c4"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["jobs"] == 15802 and s["finished"] == 15802 and s["avg_jct_s"] > s["p50_jct_s"] > 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scheduler", "fifoo"], "unknown scheduler 'fifoo'"),
        (["--placement", "bestfit"], "did you mean 'best-fit'"),
        (["--predictor", "magic"], "unknown predictor 'magic'"),
        (["--speeds", "A100:2"], "--speeds"),
    ],
)
def test_simulate_bad_names_are_one_line_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    r = runner.invoke(app, ["simulate", *SYN, "--cluster", "4x8", "--out", str(tmp_path / "x"), *args])
    assert r.exit_code == 2 and needle in r.stderr and r.stderr.strip().count("\n") == 0


def test_bad_cluster_spec(tmp_path: Path) -> None:
    r = runner.invoke(app, ["simulate", *SYN, "--cluster", "synthetic:jobs", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "NODES reference" in r.stderr


@pytest.mark.integration  # starts worker processes
def test_compare_grid_in_worker_processes(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "compare",
            *SYN,
            *CLUSTER,
            "--schedulers",
            "fifo,sjf",
            "--placements",
            "best-fit,worst-fit",
            "--workers",
            "2",
            "--out",
            str(tmp_path / "g"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    runs = json.loads(r.stdout)["runs"]
    assert [(x["scheduler"], x["placement"]) for x in runs] == [
        ("fifo", "best-fit"),
        ("fifo", "worst-fit"),
        ("sjf", "best-fit"),
        ("sjf", "worst-fit"),
    ]
    assert (tmp_path / "g" / "sjf__worst-fit" / "summary.json").is_file() and (
        tmp_path / "g" / "compare.json"
    ).is_file()
    # parallel runs give exactly what a single in-process run gives
    one = runner.invoke(
        app,
        [
            "simulate",
            *SYN,
            *CLUSTER,
            "--scheduler",
            "sjf",
            "--placement",
            "worst-fit",
            "--out",
            str(tmp_path / "s"),
            "--json",
        ],
    )
    solo = json.loads(one.stdout)
    assert solo["avg_jct_s"] == runs[3]["avg_jct_s"] and solo["events"] == runs[3]["events"]
    text = runner.invoke(app, ["compare", *SYN, *CLUSTER, "--schedulers", "fifo,sjf", "--workers", "1"])
    assert text.exit_code == 0 and "policy comparison" in text.stdout


def test_compare_ray_without_extra_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where the extra is not installed
    r = runner.invoke(app, ["compare", *SYN, "--cluster", "4x8", "--schedulers", "fifo", "--ray", "local"])
    assert r.exit_code == 2 and "gpufleet[ray]" in r.stderr


@pytest.mark.integration  # starts a local Ray runtime (the `ray` extra, which make test installs)
def test_compare_on_ray_matches_local(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is the optional extra gpufleet[ray]; not installed here")
    args = ["compare", *SYN, *CLUSTER, "--schedulers", "fifo,sjf", "--json"]
    r = runner.invoke(app, [*args, "--ray", "local", "--workers", "2"])  # a 2-CPU runtime, stopped after
    assert r.exit_code == 0, r.output
    assert not ray.is_initialized()
    on_ray = json.loads(r.stdout)["runs"]
    local = json.loads(runner.invoke(app, [*args, "--workers", "1"]).stdout)["runs"]
    for run in on_ray + local:
        run.pop("wall_s")
    assert on_ray == local and len(on_ray) == 2


def test_forecast_and_backtest_series_cli(tmp_path: Path) -> None:
    f = runner.invoke(
        app,
        [
            "forecast",
            "--series",
            "synthetic:gpu-samples",
            "-p",
            "n_gpus=4",
            "-p",
            "hours=72",
            "--model",
            "lightgbm",
            "--horizon",
            "6h",
            "--out",
            str(tmp_path / "f.parquet"),
            "--json",
        ],
    )
    assert f.exit_code == 0, f.output
    info = json.loads(f.stdout)
    assert info["step_s"] == 600 and info["h"] == 36
    fc = pl.read_parquet(tmp_path / "f.parquet")
    assert fc.height == 4 * 36 and {"mean", "lo-80", "hi-95"} <= set(fc.columns)
    assert ((fc["lo-80"] <= fc["mean"]) & (fc["mean"] <= fc["hi-80"])).all()
    b = runner.invoke(
        app,
        [
            "backtest",
            "series",
            "--data",
            "synthetic:gpu-samples",
            "-p",
            "n_gpus=3",
            "-p",
            "hours=72",
            "--models",
            "seasonal-naive,lightgbm",
            "--horizon",
            "1h",
            "--json",
        ],
    )
    assert b.exit_code == 0, b.output
    rows = json.loads(b.stdout)["metrics"]
    # naive-last and window-mean always run beside the models asked for (#20)
    assert [r["model"] for r in rows] == ["naive-last", "window-mean", "seasonal-naive", "lightgbm"]
    assert all(r["mase"] > 0 for r in rows) and rows[0]["mae_vs_naive"] == 1
    bad = runner.invoke(app, ["forecast", "--series", "synthetic:jobs", "--out", str(tmp_path / "x.parquet")])
    assert bad.exit_code == 2 and "forecasting needs SERIES" in bad.stderr
    unknown = runner.invoke(app, ["backtest", "series", "--data", "synthetic:gpu-samples", "--models", "arima"])
    assert unknown.exit_code == 2 and "unknown forecaster 'arima'" in unknown.stderr


def test_simulate_with_lightgbm_predictor(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "simulate",
            *SYN,
            *CLUSTER,
            "--scheduler",
            "sjf",
            "--predictor",
            "lightgbm",
            "--out",
            str(tmp_path / "l"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["predictor"] == "lightgbm" and s["finished"] + s["unschedulable"] == 400
