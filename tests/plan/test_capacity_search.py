"""capacity_search: the fewest nodes that keep the p95 wait under a target, checked against every cluster
size replayed one by one (a bisection that skipped past the answer, or stopped one short, fails here)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from gpufleet.plan.capacity import capacity_search
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate

HI = 12  # nodes of 2 GPUs: 24 GPUs start every job below at once


def _jobs() -> pl.DataFrame:
    """24 jobs in two bursts, 1-2 GPUs each, plus one 4-GPU job that needs two 2-GPU nodes."""
    n = 24
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)] + ["wide"],
            "submit_time": [0.0 if i < 16 else 600.0 for i in range(n)] + [0.0],
            "num_gpus": [1.0 + (i % 3 == 0) for i in range(n)] + [4.0],
            "duration": [300.0 + 97.0 * (i % 7) for i in range(n)] + [400.0],
            "gpu_type": ["A100"] * (n + 1),
            "kind": ["train"] * (n + 1),
        }
    )


def _p95(jobs: pl.DataFrame, nodes: int) -> float:
    s = simulate(
        jobs, parse_spec(f"{nodes}x2:A100"), SimConfig(scheduler="fifo-backfill", placement="best-fit")
    ).summary
    return s.p95_wait_s if s.unfinished == 0 else math.inf


@pytest.fixture(scope="module")
def p95_by_nodes() -> dict[int, float]:
    jobs = _jobs()
    return {n: _p95(jobs, n) for n in range(2, HI + 1)}


@pytest.mark.parametrize("target_s", [0.0, 120.0, 400.0, 900.0])
def test_answer_is_the_smallest_cluster_meeting_the_target(target_s: float, p95_by_nodes: dict[int, float]) -> None:
    want = min(n for n, p in p95_by_nodes.items() if p <= target_s)
    res = capacity_search(_jobs(), 2, "A100", target_s, hi=HI)
    assert res["nodes"] == want and res["gpus"] == 2 * want
    assert p95_by_nodes[want] <= target_s and (want == 2 or p95_by_nodes[want - 1] > target_s)
    # bisection, not a scan: the first probe at `hi`, then at most ceil(log2) more over [2, hi]
    assert len(res["probes"]) <= 1 + math.ceil(math.log2(HI - 2 + 1))
    assert min(p["nodes"] for p in res["probes"]) >= 2  # one 2-GPU node can never run the 4-GPU job


def test_the_targets_in_this_case_give_different_answers(p95_by_nodes: dict[int, float]) -> None:
    """The case is not degenerate: the targets above land on at least three different cluster sizes."""
    answers = {min(n for n, p in p95_by_nodes.items() if p <= t) for t in (0.0, 120.0, 400.0, 900.0)}
    assert len(answers) >= 3


def test_a_looser_target_never_needs_more_nodes() -> None:
    sizes = [capacity_search(_jobs(), 2, "A100", t, hi=HI)["nodes"] for t in (0.0, 60.0, 300.0, 900.0, 1e9)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] == 2  # no wait limit at all: the fewest nodes that can run every job


def test_a_target_no_cluster_meets_says_so() -> None:
    res = capacity_search(_jobs(), 2, "A100", 0.0, hi=3)
    assert res["nodes"] is None and "even 3 nodes" in res["answer"]
    assert [p["nodes"] for p in res["probes"]] == [3]  # one probe at the largest size is enough to know
