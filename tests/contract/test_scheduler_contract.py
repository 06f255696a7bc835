"""Contract of every registered Scheduler (plugins included): the policy recipe, and on any small workload whose
jobs all fit, a replay finishes every job exactly once, never gives out more GPUs than the cluster has, starts
no job before it is submitted, and gives the same result twice."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.contract.recipe import check_recipe, members
from tests.sim.helpers import jobs_frame

from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.schedulers import Scheduler

NAMES = members("scheduler")
CLUSTER = "3x8"  # 24 GPUs; a 12- or 16-GPU job is a gang over two nodes


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("scheduler", name, Scheduler)


class NeverOversubscribed:
    """Observer: after every event the allocated GPUs stay within the cluster and every GPU slot within 1."""

    def __init__(self) -> None:
        self.sim: Any = None
        self.starts: dict[int, int] = {}
        self.finishes: dict[int, int] = {}

    def attach(self, sim: Any) -> None:
        self.sim = sim

    def before(self, t: float, kind: int, payload: Any) -> None:
        assert self.sim.allocated <= self.sim.total_gpus + 1e-6, "more GPUs allocated than the cluster has"
        slots = self.sim.view.slots
        assert (slots[slots >= -1e-12] >= -1e-9).all(), "a GPU is given out beyond its capacity"

    def on_job(self, t: float, what: str, i: int) -> None:
        book = self.starts if what == "start" else self.finishes if what == "finish" else None
        if book is not None:
            book[i] = book.get(i, 0) + 1


@st.composite
def fitting_workloads(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Up to 20 jobs that each fit the cluster (so every one must finish), bursts of submissions included."""
    n = draw(st.integers(1, 20))
    return [
        (
            f"j{k}",
            draw(st.sampled_from([0, 0, 0, 5, 30, 100, 250])),
            draw(st.sampled_from([0.5, 1, 1, 2, 4, 8, 12, 16])),
            draw(st.sampled_from([1, 10, 60, 300, 3600])),
        )
        for k in range(n)
    ]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fitting_workloads())
def test_replay_finishes_every_job_and_never_oversubscribes(name: str, rows: list[tuple[Any, ...]]) -> None:
    watch = NeverOversubscribed()
    cfg = SimConfig(scheduler=name, placement="first-fit", predictor="oracle", preempt_overhead_s=7)
    res = simulate(jobs_frame(rows), parse_spec(CLUSTER), cfg, observers=[watch])
    assert res.jobs["status"].to_list() == ["finished"] * len(rows)
    assert res.summary.finished == len(rows) and res.summary.scheduler == name
    assert all(watch.finishes.get(i) == 1 for i in range(len(rows))), "every job finishes exactly once"
    assert (res.jobs["start"] >= res.jobs["submit"] - 1e-9).all(), "a job started before it was submitted"
    assert (res.jobs["jct"] >= res.jobs["duration"] - 1e-6).all(), "a job ran shorter than its work"
    again = simulate(jobs_frame(rows), parse_spec(CLUSTER), cfg)
    assert again.jobs.equals(res.jobs), "not deterministic"
