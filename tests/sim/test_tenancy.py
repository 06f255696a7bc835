"""Tenancy: pooled vs partitioned virtual clusters on the same workload, per group."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.tenancy import TenancySpec, compare
from gpufleet.traces import load


def workload() -> pl.DataFrame:
    j = load("synthetic:jobs", n_jobs=600).frame
    # four teams, jobs at most one node wide and of any GPU type, so every VC can run its own jobs
    return j.filter(pl.col("num_gpus") <= 8).with_columns(
        pl.lit(None, pl.String).alias("gpu_type"),
        (pl.lit("team-") + (pl.col("job_id").str.extract(r"(\d+)$").cast(pl.Int64) % 4).cast(pl.String)).alias("group"),
    )


def test_partitioned_equals_each_vc_alone_and_pooled_does_the_same_work() -> None:
    jobs, nodes = workload(), parse_spec("8x8:A100")
    spec = TenancySpec(vcs={"team-0": 2, "team-1": 2, "team-2": 2, "team-3": 2})
    cfg = SimConfig(scheduler="fifo", placement="best-fit")
    res = compare(jobs, nodes, spec, ["pooled", "partitioned"], cfg)
    for model in ("pooled", "partitioned"):
        groups = res[model]["groups"]
        assert sum(g["jobs"] for g in groups) == jobs.height
        assert all(g["finished"] == g["jobs"] for g in groups)
        # every job runs once in both models: the same GPU-hours of work
        work = float((jobs["num_gpus"] * jobs["duration"]).sum()) / 3600
        assert abs(sum(g["gpu_hours_used"] for g in groups) - work) < 1e-6 * work
    # a VC is its own cluster: team-2's numbers are what its jobs do alone on its two nodes
    t2 = next(g for g in res["partitioned"]["groups"] if g["group"] == "team-2")
    alone = simulate(jobs.filter(pl.col("group") == "team-2"), nodes.slice(4, 2), cfg)
    assert abs(t2["avg_wait_s"] - alone.summary["avg_wait_s"]) < 1e-6
    assert t2["gpus_owned"] == 16 and 0 < t2["allocation"] <= 1


def test_groups_without_a_vc_are_refused_and_counted_or_sent_to_the_default() -> None:
    jobs, nodes = workload(), parse_spec("4x8:A100")
    n_other = jobs.filter(~pl.col("group").is_in(["team-0", "team-1"])).height
    cfg = SimConfig()
    res = compare(jobs, nodes, TenancySpec(vcs={"team-0": 2, "team-1": 2}), ["partitioned"], cfg)
    assert res["partitioned"]["summary"]["refused_jobs_no_vc"] == n_other
    res = compare(jobs, nodes, TenancySpec(vcs={"team-0": 2, "team-1": 2}, default_vc="team-1"), ["partitioned"], cfg)
    assert (
        res["partitioned"]["summary"]["refused_jobs_no_vc"] == 0
        and res["partitioned"]["summary"]["jobs"] == jobs.height
    )


def test_cli(tmp_path: Path) -> None:
    jobs = workload()
    jobs.write_parquet(tmp_path / "jobs.parquet")
    (tmp_path / "t.yaml").write_text("nodes: 8x8:A100\nvcs: {team-0: 2, team-1: 2, team-2: 2, team-3: 2}\n")
    res = CliRunner().invoke(
        app, ["tenancy", "--jobs", str(tmp_path / "jobs.parquet"), "--cluster", str(tmp_path / "t.yaml"), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"pooled", "partitioned"} and len(out["partitioned"]["groups"]) == 4
    (tmp_path / "t.yaml").write_text("nodes: 2x8:A100\nvcs: {team-0: 2, team-1: 2}\n")
    res = CliRunner().invoke(
        app, ["tenancy", "--jobs", str(tmp_path / "jobs.parquet"), "--cluster", str(tmp_path / "t.yaml")]
    )
    assert res.exit_code == 2 and "vcs ask for 4 nodes; the cluster has 2" in res.output
