"""Property tests over random workloads, clusters, schedulers and placers (hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.sim.helpers import jobs_frame

from gpufleet.optimizer.packing import PLACERS
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.schedulers import SCHEDULERS

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Invariants:
    """Checks the state after every event and records every job transition."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.events: dict[int, list[str]] = {}
        self.starts: list[tuple[float, int]] = []
        self.sim: Any = None

    def attach(self, sim: Any) -> None:
        self.sim = sim

    def before(self, t: float, kind: int, payload: Any) -> None:
        if self.times:
            assert t >= self.times[-1], "clock went back"
        self.times.append(t)
        v = self.sim.view
        assert self.sim.allocated <= self.sim.total_gpus + 1e-6
        valid = v.slots[v.slots >= -1e-12]
        assert (valid <= 1 + 1e-9).all() and (valid >= -1e-9).all(), "a GPU slot is over-allocated"
        assert (v.cpu_free >= -1e-6).all() and (v.mem_free >= -1e-3).all()
        assert abs(v.allocated_gpus() - self.sim.allocated) < 1e-6

    def on_job(self, t: float, what: str, i: int) -> None:
        self.events.setdefault(i, []).append(what)
        if what == "start":
            self.starts.append((t, i))


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], str]:
    nodes = draw(
        st.lists(
            st.tuples(st.integers(1, 3), st.sampled_from([1, 2, 4, 8]), st.sampled_from(["A", "B"])),
            min_size=1,
            max_size=3,
        )
    )
    spec = ",".join(f"{c}x{g}:{t}" for c, g, t in nodes)
    n = draw(st.integers(0, 25))
    rows = []
    for k in range(n):
        submit = draw(st.sampled_from([0, 0, 5, 10, 10, 30, 77, 100, 250]))
        gpus = draw(st.sampled_from([0.25, 0.5, 1, 1, 2, 4, 8, 12, 16, 64]))
        dur = draw(st.sampled_from([0, 1, 10, 60, 300, 3600]))
        gtype = draw(st.sampled_from([None, None, None, "A", "B", "A|B", "C"]))
        rows.append((f"j{k}", submit, gpus, dur, gtype))
    return rows, spec


@SETTINGS
@given(
    workloads(),
    st.sampled_from(SCHEDULERS.names()),
    st.sampled_from(PLACERS.names()),
    st.sampled_from(["oracle", "user-history"]),  # user-history: waiting jobs refreshed from their mates
)
def test_invariants_hold_for_every_policy(
    wl: tuple[list[tuple[Any, ...]], str], sched: str, placer: str, predictor: str
) -> None:
    rows, spec = wl
    inv = Invariants()
    res = simulate(
        jobs_frame(rows),
        parse_spec(spec, known_types=False),
        SimConfig(
            scheduler={"name": sched, "settings": {"threshold_gpu_s": 50} if sched == "tiresias" else {}},
            placement=placer,
            predictor=predictor,
            preempt_overhead_s=7,
        ),
        observers=[inv],
    )
    out = res.jobs
    # every job finishes exactly once or is reported unschedulable; nothing is left unfinished
    assert set(out["status"].to_list()) <= {"finished", "unschedulable"}
    assert res.summary.finished + res.summary.unschedulable == len(rows)
    for i, st_ in enumerate(out["status"].to_list()):
        ev = inv.events.get(i, [])
        if st_ == "finished":
            assert ev.count("finish") == 1 and ev[-1] == "finish" and ev.count("start") == ev.count("preempt") + 1
        else:
            assert ev == ["unschedulable"]
    done = out.filter(out["status"] == "finished")
    # a job runs at least as long as its work (speed 1.0), waits >= 0, never starts before it is submitted
    assert (done["jct"] >= done["duration"] - 1e-6).all()
    assert (done["wait"] >= -1e-9).all()
    if sched == "fifo":
        order = [i for _, i in sorted(inv.starts)]
        assert order == sorted(order), "FIFO started a later job before an earlier one"
    if res.timeline.height:
        assert (res.timeline["allocated_gpus"] <= res.summary.cluster_gpus + 1e-6).all()
        assert (np.diff(res.timeline["t"].to_numpy()) > 0).all()


@SETTINGS
@given(workloads(), st.sampled_from(SCHEDULERS.names()))
def test_same_config_gives_identical_outputs(wl: tuple[list[tuple[Any, ...]], str], sched: str) -> None:
    rows, spec = wl
    cfg = SimConfig(scheduler=sched, seed=3)
    a = simulate(jobs_frame(rows), parse_spec(spec, known_types=False), cfg)
    b = simulate(jobs_frame(rows), parse_spec(spec, known_types=False), cfg)
    assert a.jobs.equals(b.jobs) and a.timeline.equals(b.timeline)
    strip = {"wall_s"}
    assert a.summary.model_dump(exclude=strip) == b.summary.model_dump(exclude=strip)
