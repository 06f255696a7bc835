"""sjf/qssf skip what they know fails (schedulers/priority.py): same-class jobs that failed in this pass, and
every old job when no room was given back since the last pass. Replays with the skips off must be identical."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.schedulers.priority import _Priority
from gpufleet.traces import load

REPLAY = ["job_id", "start", "finish", "preemptions", "nodes"]


@pytest.fixture(scope="module")
def jobs() -> pl.DataFrame:
    # a loaded replay: hundreds wait at times, with varied CPUs and memory per job
    return load("synthetic:jobs", n_jobs=700, days=1, seed=11).frame


CASES: dict[str, dict[str, Any]] = {
    "sjf": {"scheduler": "sjf"},
    "qssf": {"scheduler": "qssf"},
    "sjf-blocking": {"scheduler": "sjf", "blocking": True},
    "sjf-refreshed": {"scheduler": "sjf", "predictor": "user-history"},
    "sjf-pools": {"scheduler": "sjf", "pool_policy": "cluster-autoscaler", "provision_delay_s": 120.0},
    "qssf-quota": {"scheduler": "qssf", "quota": "teams"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_skipping_known_failures_is_exact(case: str, jobs: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    kw = dict(CASES[case])
    # few CPUs and memory per node, so that CPUs, not GPUs, often hold a job back (the per-class skip must
    # then compare CPUs and memory, not just the class)
    nodes = parse_spec("4x8:A100,4x8:V100,2x4:T4").with_columns(
        (pl.col("num_gpus") * 6).cast(pl.Float64).alias("num_cpus"),
        (pl.col("num_gpus") * 64 * 2**30).cast(pl.Int64).alias("mem_bytes"),
    )
    if kw.get("quota") == "teams":
        teams = sorted({g for g in jobs["group"].to_list() if g is not None})
        share = 80.0 / len(teams)
        kw["quota"] = QuotaSpec(queues={t: QueueSpec(nominal=share, cohort="all", groups=[t]) for t in teams})
    cfg = SimConfig(**kw)
    fast = simulate(jobs, nodes, cfg)
    monkeypatch.setattr(_Priority, "skip_known_failures", False)
    slow = simulate(jobs, nodes, cfg)
    assert fast.summary["avg_wait_s"] > 600  # jobs did wait: the skips had work to do
    assert fast.jobs.select(REPLAY).equals(slow.jobs.select(REPLAY))
