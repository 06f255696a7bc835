"""plan.replays: the one place that picks the tenancy model from a file and splits nodes evenly over teams."""

from __future__ import annotations

import polars as pl

from gpufleet.plan.replays import TenancySpec, compare_tenancy, even_vcs, replay, replay_by_names
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.tenancy import run_model
from gpufleet.traces import load


def _jobs() -> pl.DataFrame:
    return load("synthetic:jobs", n_jobs=300, days=1, seed=2).frame


def test_a_plain_replay_is_the_simulator_and_a_tenancy_file_picks_its_model() -> None:
    jobs, nodes = _jobs(), parse_spec("4x8:A100")
    cfg = SimConfig(scheduler="sjf")
    assert replay(jobs, nodes, cfg).jobs.equals(simulate(jobs, nodes, cfg).jobs)
    teams = sorted(jobs["group"].drop_nulls().unique().to_list())
    vcs = TenancySpec(vcs=even_vcs(jobs, nodes.height))
    part = replay(jobs, nodes, cfg, vcs)
    assert part.summary.model == "partitioned" and part.jobs.equals(
        run_model("partitioned", jobs, nodes, vcs, cfg).jobs
    )
    queues = TenancySpec.model_validate({"queues": {t: {"nominal": 32 / len(teams), "groups": [t]} for t in teams}})
    assert replay(jobs, nodes, cfg, queues).summary.model == "quota"


def test_even_vcs_gives_every_team_it_can_the_same_nodes() -> None:
    jobs = pl.DataFrame({"group": ["a", "b", "c", None, "a"]})
    assert even_vcs(jobs, 7) == {"a": 2, "b": 2, "c": 2}
    assert even_vcs(jobs, 2) == {"a": 1, "b": 1}  # fewer nodes than teams: the first teams get one each
    assert even_vcs(pl.DataFrame({"x": [1]}), 4) == {}


def test_replay_by_names_and_the_comparison() -> None:
    jobs = _jobs()
    s = replay_by_names(jobs, "4x8:A100", "fifo", "best-fit")
    assert s.scheduler == "fifo" and s.placement == "best-fit" and s.jobs == jobs.height and s.finished > 0
    res = compare_tenancy(jobs, parse_spec("4x8:A100"), TenancySpec(vcs=even_vcs(jobs, 4)))
    assert list(res) == ["pooled", "partitioned", "quota"]
    assert all(r.summary.jobs == jobs.height and r.summary.finished > 0 for r in res.values())
    assert res["pooled"].summary.model == "pooled" and res["quota"].summary.model == "quota"
