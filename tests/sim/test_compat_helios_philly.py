"""`--compat helios` on Philly's busiest week (10,014 jobs), users split into 11 VCs at a 0.7-load sizing: every
scheduler job for job against the transcription of the Helios/Lucid loops (tests/sim/helios_reference.py).
The figures docs/simulator.md quotes ("Reproducing published results") are these."""

from __future__ import annotations

import polars as pl
import pytest
from tests.sim import helios_reference
from tests.sim.test_compat_helios import DATA, match_per_vc, philly_week

from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig
from gpufleet.sim.tenancy import TenancySpec, run_partitioned

pytestmark = [
    pytest.mark.slow,
    pytest.mark.traces,
    pytest.mark.skipif(not (DATA / "microsoft-philly").is_dir(), reason="Philly trace not found under GPUFLEET_DATA"),
]


@pytest.fixture(scope="module")
def week() -> tuple[pl.DataFrame, dict[str, int]]:
    return philly_week(7, 11, 0.7)


@pytest.mark.parametrize("scheduler", ["fifo", "sjf", "srtf", "tiresias"])
def test_a_loaded_philly_week_matches_the_reference_job_for_job(
    week: tuple[pl.DataFrame, dict[str, int]], scheduler: str
) -> None:
    jobs, vcs = week
    same, ends, n, waited = match_per_vc(jobs, vcs, scheduler)
    assert n == jobs.height > 10_000 and (same, ends) == (n, n)
    assert waited > 300  # queueing (and so the rules) decides starts


def test_qssf_with_a_priority_file_matches_the_reference(week: tuple[pl.DataFrame, dict[str, int]]) -> None:
    # any per-job figure will do as "their estimator's file": user-history's causal estimates here
    jobs, vcs = week
    est = PREDICTORS.build("user-history", {}).predict(jobs)
    figure = dict(zip(est["job_id"].to_list(), est["p50"].to_list(), strict=True))
    jobs = jobs.with_columns(pl.col("job_id").replace_strict(figure, return_dtype=pl.Float64).alias("qssf_priority"))
    cfg = SimConfig(compat="helios", scheduler="qssf")
    res = run_partitioned(jobs, parse_spec(f"{sum(vcs.values())}x8"), TenancySpec(vcs=vcs), cfg)
    got = dict(zip(res.jobs["job_id"].to_list(), res.jobs["start"].to_list(), strict=True))
    same = n = 0
    for vc, k in vcs.items():
        rows = jobs.filter(pl.col("group") == vc).select("job_id", "submit_time", "num_gpus", "duration").iter_rows()
        ref = [{"job_id": a, "submit_time": int(b), "gpu_num": int(c), "duration": int(d)} for a, b, c, d in rows]
        for j, s in helios_reference.replay(ref, k, "qssf", figure).items():
            n, same = n + 1, same + (got[j] == s)
    assert n == jobs.height and same == n
