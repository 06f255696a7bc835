"""The simulator on the real ITP and Philly traces: no queueing on a huge cluster, policy order on a loaded one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.traces import load

pytestmark = pytest.mark.traces
# Loaded clusters: mean GPU demand is ~494 GPUs for ITP cluster04 and ~553 for the Philly slice.
LOADED = {"itp:cluster04": "64x8:V100", "philly:jobs": "80x8:V100"}


@pytest.mark.parametrize("ref", sorted(LOADED))
@pytest.mark.parametrize("sched", ["fifo", "sjf", "tiresias"])
def test_nothing_queues_on_a_huge_cluster(data_dir: Path, ref: str, sched: str) -> None:
    jobs = load(ref, data_dir).frame
    res = simulate(jobs, parse_spec("2000x8:V100"), SimConfig(scheduler=sched))
    out = res.jobs
    assert out.height == jobs.height and res.summary.finished == jobs.height
    assert (out["jct"] == out["duration"]).all(), "a job waited although the cluster is far larger than demand"
    assert (out["wait"] == 0).all() and res.summary.preemptions == 0


@pytest.mark.slow
@pytest.mark.parametrize("ref", sorted(LOADED))
def test_policy_order_on_a_loaded_cluster(data_dir: Path, ref: str) -> None:
    jobs = load(ref, data_dir).frame
    nodes = parse_spec(LOADED[ref])
    avg = {
        s: simulate(jobs, nodes, SimConfig(scheduler=s, predictor="oracle")).summary
        for s in ("fifo", "sjf", "tiresias")
    }
    assert avg["fifo"].avg_wait_s > 3600, "the cluster is not loaded: the comparison would be vacuous"
    assert avg["sjf"].avg_jct_s <= avg["fifo"].avg_jct_s
    assert avg["tiresias"].avg_jct_s <= avg["fifo"].avg_jct_s
    for s in avg.values():
        assert s.finished == jobs.height


def test_user_history_predictor_is_causal_and_useful(data_dir: Path) -> None:
    jobs = load("philly:jobs", data_dir).frame
    from gpufleet.forecasting.runtime import PREDICTORS

    pred = PREDICTORS.build("user-history").predict(jobs)
    assert pred.height == jobs.height and (pred["p10"] <= pred["p50"]).all() and (pred["p50"] <= pred["p90"]).all()
    # causal: changing a job's own duration (or any later job's) never changes its prediction
    bumped = jobs.with_columns(
        pl.when(pl.col("job_id") == jobs["job_id"][500]).then(1e7).otherwise(pl.col("duration")).alias("duration")
    )
    again = PREDICTORS.build("user-history").predict(bumped)
    assert again["p50"][:501].equals(pred["p50"][:501])
    nodes = parse_spec(LOADED["philly:jobs"])
    fifo = simulate(jobs, nodes, SimConfig(scheduler="fifo")).summary.avg_jct_s
    sjf_hist = simulate(jobs, nodes, SimConfig(scheduler="sjf", predictor="user-history")).summary.avg_jct_s
    assert sjf_hist < fifo  # history-based SJF still beats FIFO on the real trace
