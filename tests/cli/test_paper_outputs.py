"""Outputs a paper can use: compare takes simulate's --speeds and --pool (and they reach every replay of the
grid), pack-experiment --out writes its per-seed rows and prints each mean with its 95% t-interval over the
seeds, and a training run directory holds its JCT and wait quantiles (cdf.csv)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from gpufleet.cli import app

runner = CliRunner()
SYN = ["--jobs", "synthetic:jobs", "-p", "n_jobs=200", "-p", "days=1"]
MIXED = ["--cluster", "2x8:A100,2x8:V100"]


def _run(*args: str) -> dict:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_compare_speeds_and_pool_reach_the_replays(tmp_path: Path) -> None:
    base = _run("compare", *SYN, *MIXED, "--schedulers", "fifo,sjf", "--workers", "1")["runs"]
    out = tmp_path / "g"
    fast = _run("compare", *SYN, *MIXED, "--schedulers", "fifo,sjf", "--workers", "1", "--speeds", "A100=3,V100=1",
                "--out", str(out))["runs"]  # fmt: skip
    # A100 jobs run 3x faster: every pair's completion times drop, and each run directory says why
    assert all(f["avg_jct_s"] < b["avg_jct_s"] for f, b in zip(fast, base, strict=True))
    for pair in ("fifo__best-fit", "sjf__best-fit"):
        assert yaml.safe_load((out / pair / "config.yaml").read_text())["speeds"] == {"A100": 3.0, "V100": 1.0}
    # the same as simulate gives for one of the pairs
    one = _run(
        "simulate", *SYN, *MIXED, "--scheduler", "sjf", "--speeds", "A100=3,V100=1", "--out", str(tmp_path / "s")
    )
    assert one["avg_jct_s"] == fast[1]["avg_jct_s"]
    few = ["--jobs", "synthetic:jobs", "-p", "n_jobs=60", "-p", "days=1"]  # a pool scaler's replay takes longer
    pooled = _run("compare", *few, *MIXED, "--schedulers", "fifo", "--workers", "1", "--pool", "cluster-autoscaler",
                  "--set", "pool.down_after_s=300", "--provision-delay", "120")["runs"]  # fmt: skip
    assert pooled[0]["pool"]["policy"] == "cluster-autoscaler" and pooled[0]["pool"]["nodes_added"] > 0
    same = _run("simulate", *few, *MIXED, "--pool", "cluster-autoscaler", "--set", "pool.down_after_s=300",
                "--provision-delay", "120", "--out", str(tmp_path / "p"))  # fmt: skip
    assert same["pool"] == pooled[0]["pool"] and same["avg_jct_s"] == pooled[0]["avg_jct_s"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "pool.down_after_s=300"], "choose a node-pool scaler with --pool"),
        (["--pool", "nope"], "unknown pool scaler 'nope'"),
        (["--speeds", "A100=fast"], "--speeds 'A100=fast'"),
    ],
)
def test_compare_bad_speeds_or_pool_is_one_line(args: list[str], message: str) -> None:
    r = runner.invoke(app, ["compare", *SYN, *MIXED, *args])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_pack_experiment_out_has_per_seed_rows_and_t_intervals(tmp_path: Path) -> None:
    from scipy import stats

    out = tmp_path / "pack"
    args = ["pack-experiment", "--pods", "synthetic:jobs", "--nodes", "4x8:A100", "--policies", "best-fit,random"]
    doc = _run(*args, "--seeds", "1-4", "--out", str(out))
    seeds = pl.read_parquet(out / "seeds.parquet")
    assert seeds.group_by("policy", "seed").len()["len"].unique().to_list() == [13]  # 13 load steps to 130%
    assert sorted(seeds["seed"].unique().to_list()) == [1, 2, 3, 4] and seeds.height == 2 * 4 * 13
    assert doc["interval"] == "95% Student t over seeds (n - 1 degrees of freedom)"
    intervals = pl.read_csv(out / "intervals.csv")
    for row in doc["policies"]:
        at = seeds.filter((pl.col("policy") == row["policy"]) & (pl.col("load") == 1.3))
        values = (at.sort("seed")["alloc_ratio"] * 100).to_list()
        lo, hi = stats.t.interval(0.95, 3, loc=sum(values) / 4, scale=stats.sem(values))
        assert row["130%"] == pytest.approx(sum(values) / 4) and row["ci95"]["130%"] == pytest.approx([lo, hi])
        mine = intervals.filter((pl.col("policy") == row["policy"]) & (pl.col("load_x_capacity") == 1.3))
        assert mine["n"].item() == 4 and [mine["low"].item(), mine["high"].item()] == pytest.approx([lo, hi])
        ends = at["unallocated_gpus"].to_list()
        assert row["ci95"]["unallocated_gpus"] is None or row["ci95"]["unallocated_gpus"][0] <= sum(ends) / 4
    assert json.loads((out / "summary.json").read_text())["policies"] == doc["policies"]
    table = runner.invoke(app, [*args, "--seeds", "1-4"]).stdout
    assert "± half-width of the 95% Student t over seeds" in table and "±" in table.split("seeds", 2)[-1]
    one = runner.invoke(app, [*args, "--seeds", "7"]).stdout
    assert "one seed: no interval" in one and "±" not in one


def test_every_training_run_directory_has_its_cdf(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("nodes: 4x8:A100\nvcs: {team-00: 2, team-01: 2}\n")
    runner.invoke(app, ["tenancy", *SYN, "--cluster", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "ten")])
    for model in ("pooled", "partitioned", "quota"):
        cdf = pl.read_csv(tmp_path / "ten" / model / "cdf.csv")
        summary = json.loads((tmp_path / "ten" / model / "summary.json").read_text())
        assert cdf.filter(pl.col("quantile") == 0.95)["wait_s"].item() == pytest.approx(summary["p95_wait_s"])
