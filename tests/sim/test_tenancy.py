"""Tenancy: pooled vs partitioned virtual clusters on the same workload, per group."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.tenancy import TenancySpec, compare, digest
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
    res = digest(compare(jobs, nodes, spec, ["pooled", "partitioned"], cfg))
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
    assert abs(t2["avg_wait_s"] - alone.summary.avg_wait_s) < 1e-6
    assert t2["gpus_owned"] == 16 and 0 < t2["allocation"] <= 1


def test_groups_without_a_vc_are_refused_and_counted_or_sent_to_the_default() -> None:
    jobs, nodes = workload(), parse_spec("4x8:A100")
    n_other = jobs.filter(~pl.col("group").is_in(["team-0", "team-1"])).height
    cfg = SimConfig()
    res = digest(compare(jobs, nodes, TenancySpec(vcs={"team-0": 2, "team-1": 2}), ["partitioned"], cfg))
    assert res["partitioned"]["summary"]["refused_jobs_no_vc"] == n_other
    spec = TenancySpec(vcs={"team-0": 2, "team-1": 2}, default_vc="team-1")
    res = digest(compare(jobs, nodes, spec, ["partitioned"], cfg))
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
    # by default every model the file allows: vcs give partitioned, and quota (each VC's GPUs as nominal)
    assert set(out) == {"pooled", "partitioned", "quota"} and len(out["partitioned"]["groups"]) == 4
    (tmp_path / "t.yaml").write_text("nodes: 2x8:A100\nvcs: {team-0: 2, team-1: 2}\n")
    res = CliRunner().invoke(
        app, ["tenancy", "--jobs", str(tmp_path / "jobs.parquet"), "--cluster", str(tmp_path / "t.yaml")]
    )
    assert res.exit_code == 2 and "vcs ask for 4 nodes; the cluster has 2" in res.output


def test_quota_model_from_the_vcs_lends_idle_quota() -> None:
    jobs, nodes = workload(), parse_spec("8x8:A100")
    spec = TenancySpec(vcs={"team-0": 2, "team-1": 2, "team-2": 2, "team-3": 2})
    res = digest(compare(jobs, nodes, spec, ["partitioned", "quota"], SimConfig()))
    quota = {g["group"]: g for g in res["quota"]["groups"]}
    assert set(quota) == {"team-0", "team-1", "team-2", "team-3"}
    assert all(g["gpus_owned"] == 16 and g["finished"] == g["jobs"] for g in quota.values())
    # with borrowing some team runs above its nominal quota at some point
    assert max(g["peak_borrowed_gpus"] for g in quota.values()) > 0
    assert res["quota"]["summary"]["avg_wait_s"] < res["partitioned"]["summary"]["avg_wait_s"]


def test_quota_search_meets_each_target_with_the_fewest_gpus_it_found() -> None:
    from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
    from gpufleet.sim.tenancy import suggest_quotas

    jobs, nodes = workload(), parse_spec("8x8:A100")
    cfg = SimConfig()
    target = 6 * 3600.0
    sug = suggest_quotas(jobs, nodes, cfg, {"*": target}, step=4)
    for g, a in sug["alone"].items():
        mine = jobs.filter(pl.col("group") == g)

        def p95(n: float, mine: pl.DataFrame = mine, g: str = g) -> float:
            r = simulate(mine, nodes, cfg.model_copy(update={"quota": QuotaSpec(queues={g: QueueSpec(nominal=n)})}))
            return float(r.summary.groups[0].p95_wait_s)

        assert a["reachable"] and a["quota_gpus"] % 4 == 0
        assert p95(a["quota_gpus"]) <= target  # meets the target
        if a["quota_gpus"] - 4 >= float(mine["num_gpus"].max()):  # type: ignore[arg-type]
            assert p95(a["quota_gpus"] - 4) > target  # and one step less does not
    shared = sug["shared"]
    assert shared["total_gpus"] <= sug["alone_total_gpus"]
    assert all(p <= target for p in shared["p95_wait_s"].values())


def test_cli_quota_target_and_out(tmp_path: Path) -> None:
    jobs = workload()
    jobs.write_parquet(tmp_path / "jobs.parquet")
    (tmp_path / "t.yaml").write_text(
        "nodes: 8x8:A100\nvcs: {team-0: 2, team-1: 2, team-2: 2, team-3: 2}\n"
        "queues:\n  team-0: {nominal: 16, cohort: all}\n  team-1: {nominal: 16, cohort: all}\n"
        "  team-2: {nominal: 16, cohort: all, borrowing_limit: 8}\n  team-3: {nominal: 16}\n"
    )
    out = tmp_path / "ten"
    args = ["tenancy", "--jobs", str(tmp_path / "jobs.parquet"), "--cluster", str(tmp_path / "t.yaml")]
    res = CliRunner().invoke(
        app, [*args, "--compare", "pooled,partitioned,quota", "--target", "8h", "--quota-step", "8", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "quota: per group" in res.output and "suggested nominal quotas" in res.output
    saved = json.loads((out / "tenancy.json").read_text())
    assert set(saved) >= {"pooled", "partitioned", "quota", "suggestion"}
    assert (out / "quota" / "groups.parquet").exists() and (out / "partitioned" / "summary.json").exists()
    groups = pl.read_parquet(out / "quota" / "groups.parquet")
    assert groups.filter(pl.col("group") == "team-3")["borrowed_gpus"].max() == 0  # no cohort: never borrows
    (tmp_path / "t.yaml").write_text("nodes: 8x8:A100\nqueues: {team-0: {nominal: -1}}\n")
    res = CliRunner().invoke(app, [*args, "--compare", "quota"])
    assert res.exit_code == 2 and "queues.team-0.nominal" in res.output


def test_cli_bad_targets_fail_before_any_replay(tmp_path: Path) -> None:
    workload().write_parquet(tmp_path / "jobs.parquet")
    (tmp_path / "t.yaml").write_text("nodes: 8x8:A100\nvcs: {team-0: 2, team-1: 2, team-2: 2, team-3: 2}\n")
    args = ["tenancy", "--jobs", str(tmp_path / "jobs.parquet"), "--cluster", str(tmp_path / "t.yaml")]
    res = CliRunner().invoke(app, [*args, "--target", "soon"])
    assert res.exit_code == 2 and "--target 'soon': give seconds or a duration like" in res.output
    res = CliRunner().invoke(app, [*args, "--target", "team-0=2h"])
    assert res.exit_code == 2 and "no p95-wait target for group 'team-1'" in res.output


def test_group_timelines_coarsen_their_step_to_stay_under_the_row_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpufleet.sim.run as run_mod

    jobs = load("synthetic:jobs", n_jobs=600).frame  # ten teams over days of arrivals
    nodes = parse_spec("8x8:A100")
    fine = simulate(jobs, nodes, SimConfig())
    assert fine.summary.group_timeline_step_s == 60.0 and fine.groups is not None
    monkeypatch.setattr(run_mod, "GROUP_ROWS", fine.groups.height // 7)
    coarse = simulate(jobs, nodes, SimConfig())
    step = coarse.summary.group_timeline_step_s
    # the budget is met against the expected span (submissions + mean duration), so roughly: a step several
    # times coarser, and as many times fewer rows
    assert coarse.groups is not None and step % 60.0 == 0 and step >= 4 * 60.0
    assert coarse.groups.height <= fine.groups.height * 60.0 / step + 2 * 10
    ts = coarse.groups["t"].unique().sort()
    assert (ts.diff().drop_nulls() == step).all()
    # the per-group summary comes from exact integrals, not from the samples: unchanged
    assert coarse.summary.groups == fine.summary.groups
