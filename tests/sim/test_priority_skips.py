"""sjf/qssf skip what they know fails (schedulers/priority.py): same-class jobs that failed in this pass, and
every old job when no room was given back since the last pass. Replays with the skips off must be identical."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.quota import QuotaDispatcher, queue_schedulers
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.schedulers import SCHEDULERS
from gpufleet.traces import load

REPLAY = ["job_id", "start", "finish", "preemptions", "nodes"]


@pytest.fixture(scope="module")
def jobs() -> pl.DataFrame:
    # a loaded replay: hundreds wait at times, with varied CPUs and memory per job
    return load("synthetic:jobs", n_jobs=700, days=1, seed=11).frame


CASES: dict[str, dict[str, Any]] = {
    "sjf": {"scheduler": "sjf"},
    "qssf": {"scheduler": "qssf"},
    "sjf-blocking": {"scheduler": {"name": "sjf", "settings": {"blocking": True}}},
    "sjf-refreshed": {"scheduler": "sjf", "predictor": "user-history"},
    "sjf-pools": {"scheduler": "sjf", "pool": "cluster-autoscaler", "provision_delay_s": 120.0},
    "qssf-quota": {"scheduler": "qssf", "quota": "teams"},
    "sjf-quota": {"scheduler": "sjf", "quota": "teams"},
    "sjf-quota-refreshed": {"scheduler": "sjf", "quota": "teams", "predictor": "user-history"},
    "sjf-quota-noreclaim": {"scheduler": "sjf", "quota": "teams-noreclaim"},
    "sjf-quota-typed": {"scheduler": "sjf", "quota": "teams-typed"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_skipping_known_failures_is_exact(case: str, jobs: pl.DataFrame) -> None:
    kw = dict(CASES[case])
    # few CPUs and memory per node, so that CPUs, not GPUs, often hold a job back (the per-class skip must
    # then compare CPUs and memory, not just the class)
    nodes = parse_spec("4x8:A100,4x8:V100,2x4:T4").with_columns(
        (pl.col("num_gpus") * 6).cast(pl.Float64).alias("num_cpus"),
        (pl.col("num_gpus") * 64 * 2**30).cast(pl.Int64).alias("mem_bytes"),
    )
    quota = kw.pop("quota", None)
    if quota is not None:
        teams = sorted({g for g in jobs["group"].to_list() if g is not None})
        share = 80.0 / len(teams)
        # typed: each team's quota split over the two 8-GPU types (the T4s are nobody's)
        nominal: Any = {"A100": share / 2, "V100": share / 2} if quota == "teams-typed" else share
        queues = {t: QueueSpec(nominal=nominal, cohort="all", groups=[t]) for t in teams}
        kw["quota"] = QuotaSpec(queues=queues, reclaim=quota != "teams-noreclaim")
    cfg = SimConfig(**kw)
    new_only = 0

    def schedulers(**context: Any) -> Any:
        """The run's scheduler(s), built with `context`, each counting its new-jobs-only passes."""
        built = (
            queue_schedulers(cfg.quota, cfg.scheduler.name, cfg.scheduler.settings, **context)
            if cfg.quota is not None
            else [SCHEDULERS.build(cfg.scheduler.name, cfg.scheduler.settings, **context)]
        )
        for s in built:
            try_new = s._try_new  # type: ignore[attr-defined]

            def counting(*a: Any, try_new: Any = try_new) -> None:
                nonlocal new_only
                new_only += 1
                try_new(*a)

            s._try_new = counting  # type: ignore[attr-defined]  # this object only: nothing class-level
        return QuotaDispatcher(cfg.quota, built) if cfg.quota is not None else built[0]

    fast = simulate(jobs, nodes, cfg, scheduler=schedulers())
    slow = simulate(jobs, nodes, cfg, scheduler=schedulers(skip_known_failures=False))
    by_name = simulate(jobs, nodes, cfg)
    assert by_name.jobs.select(REPLAY).equals(fast.jobs.select(REPLAY))  # the objects are the named members
    assert fast.summary.avg_wait_s > 600  # jobs did wait: the skips had work to do
    if not cfg.scheduler.settings.get("blocking"):
        assert new_only > 0  # the new-jobs-only pass ran (under quotas: while nothing was left to reclaim)
    if quota in ("teams", "teams-typed"):
        assert fast.summary.quota.reclaim_preemptions > 0
    assert fast.jobs.select(REPLAY).equals(slow.jobs.select(REPLAY))
