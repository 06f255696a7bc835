"""The simulators return the typed summaries, and what a run directory holds is their dump: a training replay
(plain, and under quotas with a node-pool scaler), a partitioned tenancy run and a serving replay; the command's
--json prints the same fields. The wall time lives in timing.json beside summary.json (identical runs write
identical summaries); read_summary puts it back."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.plan.rundirs import save
from gpufleet.report.rundir import dumps, read_summary, write_run
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.run import SimConfig, SimResult, simulate
from gpufleet.sim.serving import ServingConfig, simulate_serving
from gpufleet.sim.summary import GroupRow, PoolStats, QuotaStats, ServingSummary, Summary, load
from gpufleet.sim.tenancy import TenancySpec, run_model
from gpufleet.traces import load as load_trace


def _jobs() -> pl.DataFrame:
    return load_trace("synthetic:jobs", n_jobs=200, days=1).frame.filter(pl.col("num_gpus") <= 8)


def _written(res: SimResult, out: Path) -> str:
    save(res, out, {})
    assert "wall_s" not in json.loads((out / "summary.json").read_text())
    assert json.loads((out / "timing.json").read_text()) == {"summary.json": {"wall_s": res.summary.wall_s}}
    return dumps(read_summary(out)) + "\n"


def test_a_plain_replay_returns_a_summary_whose_dump_is_its_summary_json(tmp_path: Path) -> None:
    res = simulate(_jobs().drop("group"), parse_spec("4x8:A100"), SimConfig(scheduler="sjf"))
    assert isinstance(res.summary, Summary)
    text = _written(res, tmp_path / "run")
    assert text == dumps(res.summary.dump()) + "\n"
    assert load(text, "summary.json", Summary).dump() == res.summary.dump()
    # what the run did not measure is absent from the file, not null
    assert not {"pool", "groups", "groups_by", "quota", "model", "refused_jobs_no_vc"} & set(json.loads(text))


def test_a_quota_replay_with_a_pool_scaler_has_typed_parts_and_the_same_file(tmp_path: Path) -> None:
    queues = {f"team-0{k}": QueueSpec(nominal=8, cohort="all") for k in range(4)}
    cfg = SimConfig(pool="predictive", quota=QuotaSpec(queues=queues, default_queue="team-00"))
    res = simulate(_jobs(), parse_spec("4x8:A100"), cfg)
    s = res.summary
    assert isinstance(s.pool, PoolStats) and isinstance(s.quota, QuotaStats) and s.groups_by == "queue"
    assert s.groups and all(isinstance(g, GroupRow) and g.peak_borrowed_gpus is not None for g in s.groups)
    assert s.finished + s.unfinished + s.unschedulable == s.jobs
    assert _written(res, tmp_path / "run") == dumps(s.dump()) + "\n"


def test_a_partitioned_run_is_one_typed_summary_with_a_row_per_vc(tmp_path: Path) -> None:
    spec = TenancySpec(vcs={"team-00": 2, "team-01": 1, "team-02": 1}, default_vc="team-02")
    res = run_model("partitioned", _jobs(), parse_spec("4x8:A100"), spec, SimConfig())
    s = res.summary
    assert isinstance(s, Summary) and s.model == "partitioned" and s.refused_jobs_no_vc == 0
    assert [g.group for g in s.groups or []] == ["team-00", "team-01", "team-02"]
    assert [g.gpus_owned for g in s.groups or []] == [16.0, 8.0, 8.0]
    assert _written(res, tmp_path / "run") == dumps(s.dump()) + "\n"


def test_a_serving_replay_returns_a_serving_summary_written_with_its_actions(tmp_path: Path) -> None:
    reqs = load_trace("synthetic:requests").frame.head(3000)
    res = simulate_serving(reqs, ServingConfig(policy="target-tracking", slo="ttft_p95<=2"))
    assert isinstance(res.summary, ServingSummary)
    dumped = res.summary.dump()
    # the SLO's own percentile under its own name, and no scaling actions until a run directory adds them
    assert "ttft_p95_s" in dumped and "slo_quantile_s" not in dumped and "actions" not in dumped
    written = res.summary.with_actions(res.actions)
    write_run(tmp_path / "run", summary=written, config={}, tables={})
    text = (tmp_path / "run" / "summary.json").read_text()
    assert json.loads(text) == dumped | {"actions": res.actions}
    assert load(text, "summary.json", ServingSummary).dump() == written.dump()


def test_simulate_json_prints_the_summary_json_and_where_it_is(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["simulate", "--jobs", "synthetic:jobs", "-p", "n_jobs=200", "--cluster", "4x8:A100", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    assert printed.pop("out") == str(out)
    assert printed == read_summary(out)
