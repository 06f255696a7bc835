"""Waiting jobs' predictions refreshed from their submission mates (sim/refresh.py): hand-worked schedules,
no look into the future, and the quota path giving the pooled schedule."""

from __future__ import annotations

import bisect
import random
from typing import Any

import polars as pl
import pytest

from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.refresh import MateRefresher
from gpufleet.sim.run import SimConfig, SimResult, simulate
from gpufleet.sim.schedulers import SCHEDULERS
from gpufleet.traces import load


class Priors:
    """A predictor that says what the test tells it (p10 = p50 = p90)."""

    learned = False  # the Protocol's declared members: nothing to train, nothing chosen
    choice = None
    sees_future = False  # it is told its numbers, but the replay must treat them as predictions

    def __init__(self, by_id: dict[str, float]) -> None:
        self.by_id = by_id

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        v = [self.by_id[j] for j in jobs["job_id"].to_list()]
        return pl.DataFrame({"job_id": jobs["job_id"], "p10": v, "p50": v, "p90": v})


def _jobs(rows: list[tuple[str, float, float, str, str]]) -> pl.DataFrame:
    """Rows of (job_id, submit, duration, user, name); every job takes 1 GPU."""
    return pl.DataFrame(
        {
            "job_id": [r[0] for r in rows],
            "submit_time": [r[1] for r in rows],
            "num_gpus": [1.0] * len(rows),
            "duration": [r[2] for r in rows],
            "user": [r[3] for r in rows],
            "name": [r[4] for r in rows],
            "kind": ["train"] * len(rows),
        }
    )


def _run(jobs: pl.DataFrame, priors: dict[str, float], cluster: str, **cfg: Any) -> SimResult:
    res = simulate(jobs, parse_spec(cluster), SimConfig(scheduler="sjf", **cfg), predictor=Priors(priors))
    assert res.summary.predictor == "Priors"  # a passed-in member is named in the summary
    return res


def _starts(res: SimResult) -> dict[str, float]:
    return dict(zip(res.jobs["job_id"].to_list(), res.jobs["start"].to_list(), strict=True))


def test_a_sweep_whose_first_job_ended_fast_overtakes_a_shorter_prediction() -> None:
    # 2 GPUs. B holds one for 10,000 s; the sweep S1-S3 (predicted 5,000 s, really 100 s) takes the other.
    # X (predicted and really 3,000 s) arrives at 50 s. When S1 ends at 100 s, S2's estimate becomes
    # exp((2 ln 5000 + ln 100) / 3) = 1,357 s < 3,000 s: S2 goes before X, then S3 (sqrt(5000 x 100) = 707 s).
    jobs = _jobs(
        [
            ("B", 0.0, 10_000.0, "b", "big"),
            ("S1", 0.5, 100.0, "u", "sweep"),
            ("S2", 1.0, 100.0, "u", "sweep"),
            ("S3", 2.0, 100.0, "u", "sweep"),
            ("X", 50.0, 3_000.0, "x", "other"),
        ]
    )
    priors = {"B": 10_000.0, "S1": 5_000.0, "S2": 5_000.0, "S3": 5_000.0, "X": 3_000.0}
    res = _run(jobs, priors, "1x2:V100")
    s = _starts(res)
    assert (s["S1"], s["S2"], s["S3"], s["X"]) == (0.5, 100.5, 200.5, 300.5)
    assert res.summary.mate_refreshes == 3  # S2 and S3 when S1 ends, S3 again when S2 ends
    fixed = _starts(_run(jobs, priors, "1x2:V100", mate_gap_s=0))
    assert (fixed["X"], fixed["S2"], fixed["S3"]) == (100.5, 3100.5, 3200.5)


def test_a_mate_still_running_pushes_its_waiting_mates_back() -> None:
    # S1 (predicted 1,000 s) has run 3,999.5 s when B ends at 4,000 s: S2 is now expected to run at least
    # that long, so X (3,000 s) goes first. With predictions fixed at submission S2 goes first.
    jobs = _jobs(
        [
            ("B", 0.0, 4_000.0, "b", "big"),
            ("S1", 0.5, 8_000.0, "u", "sweep"),
            ("S2", 1.0, 8_000.0, "u", "sweep"),
            ("X", 50.0, 3_000.0, "x", "other"),
        ]
    )
    priors = {"B": 4_000.0, "S1": 1_000.0, "S2": 1_000.0, "X": 3_000.0}
    s = _starts(_run(jobs, priors, "1x2:V100"))
    assert s["X"] == 4_000.0 and s["S2"] == 7_000.0
    fixed = _starts(_run(jobs, priors, "1x2:V100", mate_gap_s=0))
    assert fixed["S2"] == 4_000.0 and fixed["X"] == 8_000.5


def test_the_oracle_is_never_refreshed() -> None:
    jobs = _jobs([("A", 0.0, 10.0, "u", "s"), ("B", 0.1, 10.0, "u", "s"), ("C", 0.2, 10.0, "u", "s")])
    res = simulate(jobs, parse_spec("1x1:V100"), SimConfig(scheduler="sjf", predictor="oracle"))
    assert res.summary.mate_refreshes == 0


@pytest.fixture(scope="module")
def synthetic() -> pl.DataFrame:
    return load("synthetic:jobs", n_jobs=1500, days=3, seed=3).frame


def test_nothing_before_t_depends_on_durations_that_end_after_t(
    synthetic: pl.DataFrame,
) -> None:
    # Lengthen every job that ends after T (its end stays after T). A refresher that read a running or waiting
    # mate's true duration would re-rank differently before T; one that reads only finished mates cannot.
    # The priors are the same in both runs (user-history computed once: it reads trace-time finishes, submit +
    # duration, which the stretch would move).
    frame = PREDICTORS.build("user-history").predict(synthetic)
    priors = dict(zip(frame["job_id"].to_list(), frame["p50"].to_list(), strict=True))
    nodes = parse_spec("6x8:V100")
    cfg = SimConfig(scheduler="sjf")
    base = simulate(synthetic, nodes, cfg, predictor=Priors(priors))
    assert base.summary.mate_refreshes > 0
    ends = base.jobs.select("job_id", "finish")
    t_cut = float(ends["finish"].quantile(0.5))  # type: ignore[arg-type]
    later = set(ends.filter(pl.col("finish") > t_cut)["job_id"].to_list())
    stretched = synthetic.with_columns(
        pl.when(pl.col("job_id").is_in(list(later))).then(pl.col("duration") * 3).otherwise(pl.col("duration"))
    )
    other = simulate(stretched, nodes, cfg, predictor=Priors(priors))

    def before(res: SimResult) -> dict[str, float]:
        f = res.jobs.filter(pl.col("start") < t_cut)
        return dict(zip(f["job_id"].to_list(), f["start"].to_list(), strict=True))

    assert before(base) == before(other) and len(before(base)) > 100


def test_one_queue_holding_every_gpu_gives_the_pooled_schedule(synthetic: pl.DataFrame) -> None:
    nodes = parse_spec("6x8:V100")
    pooled = simulate(synthetic, nodes, SimConfig(scheduler="sjf", predictor="user-history"))
    groups = sorted({g for g in synthetic["group"].to_list() if g is not None})
    quota = QuotaSpec(queues={"all": QueueSpec(nominal=48.0, groups=groups)})
    queued = simulate(synthetic, nodes, SimConfig(scheduler="sjf", predictor="user-history", quota=quota))
    assert queued.summary.mate_refreshes == pooled.summary.mate_refreshes > 0
    assert queued.jobs["start"].to_list() == pooled.jobs["start"].to_list()


def test_sjf_keeps_its_order_sorted_under_updates() -> None:
    class Wl:
        def __init__(self, n: int) -> None:
            self.pred = [float(random.randint(1, 100)) for _ in range(n)]
            self.submit = [float(i) for i in range(n)]
            self.gpus = [1.0] * n

    class Sim:
        def __init__(self, n: int) -> None:
            self.wl = Wl(n)

    random.seed(7)
    sim = Sim(200)
    sjf: Any = SCHEDULERS.build("sjf")
    for i in range(200):
        sjf.on_arrive(sim, i, 0.0)
    for _ in range(1000):
        i = random.randrange(200)
        sjf.update_prediction(sim, i, float(random.randint(1, 100)))
    assert sjf._order == sorted(sjf._order)
    assert sorted(j for _, _, j in sjf._order) == list(range(200))
    assert all(k == sim.wl.pred[j] for k, _, j in sjf._order)
    assert bisect.bisect_left(sjf._order, sjf._order[0]) == 0


def test_skipping_groups_below_their_floor_is_exact(synthetic: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    # a group whose running mates have not worked past its floor is skipped without a look at each waiting job;
    # looking every time must give the same re-rankings and the same schedule
    nodes = parse_spec("6x8:V100")
    cfg = SimConfig(scheduler="sjf", predictor="user-history")
    fast = simulate(synthetic, nodes, cfg)
    look = MateRefresher._refresh

    def always_look(self: MateRefresher, t: float) -> None:
        self._floor.clear()
        look(self, t)

    monkeypatch.setattr(MateRefresher, "_refresh", always_look)
    slow = simulate(synthetic, nodes, cfg)
    assert fast.summary.mate_refreshes == slow.summary.mate_refreshes > 0
    assert fast.jobs["start"].to_list() == slow.jobs["start"].to_list()


@pytest.mark.parametrize("predictor", ["user-history", "lightgbm"])
def test_an_empty_trace_with_a_learned_predictor_gives_an_empty_replay(predictor: str) -> None:
    # the predictor's frame for no jobs has null-typed columns (found by the property test)
    empty = _jobs([])
    res = simulate(empty, parse_spec("1x1:V100"), SimConfig(scheduler="sjf", predictor=predictor))
    assert res.summary.finished == 0 and res.summary.mate_refreshes == 0
