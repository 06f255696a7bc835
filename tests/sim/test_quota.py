"""Kueue-style quotas: nominal quotas, cohorts, borrowing and lending limits, reclaim of the youngest borrowers,
every scheduler inside each queue, per-queue timelines."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from tests.sim.helpers import jobs_frame

from gpufleet.core.errors import GpufleetError
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.quota import QuotaDispatcher, queue_schedulers
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.run import SimConfig, SimResult, simulate
from gpufleet.sim.schedulers import SCHEDULERS
from gpufleet.sim.training import TrainingSim
from gpufleet.traces import load


def grouped(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of (job_id, submit, gpus, duration, group)."""
    return jobs_frame([r[:4] for r in rows]).with_columns(pl.Series("group", [r[4] for r in rows]))


def run(rows: list[tuple[Any, ...]], cluster: str, queues: dict[str, QueueSpec], **kw: Any) -> SimResult:
    reclaim = kw.pop("reclaim", True)
    q = QuotaSpec(queues=queues, reclaim=reclaim)
    return simulate(grouped(rows), parse_spec(cluster), SimConfig(quota=q, **kw))


def starts(res: SimResult) -> dict[str, float]:
    return dict(zip(res.jobs["job_id"].to_list(), res.jobs["start"].to_list(), strict=True))


TWO = {"a": QueueSpec(nominal=8, cohort="c"), "b": QueueSpec(nominal=8, cohort="c")}
REPLAY = ["job_id", "start", "finish", "preemptions", "nodes"]  # what two replays must agree on


def typed_teams(j: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, QueueSpec]]:
    """Three teams with per-type quotas (a borrowing limit, a lending limit) on 4x8 A100 + 4x8 V100; every
    other job is tied to A100, the rest may run on any type."""
    k = pl.col("job_id").str.extract(r"(\d+)$").cast(pl.Int64)
    jobs = j.with_columns(
        pl.when(k % 2 == 0).then(pl.lit(None, pl.String)).otherwise(pl.lit("A100")).alias("gpu_type"),
        (pl.lit("t") + (k % 3).cast(pl.String)).alias("group"),
    )
    queues = {
        "t0": QueueSpec(nominal={"A100": 16, "V100": 8}, cohort="c", borrowing_limit={"A100": 8}),
        "t1": QueueSpec(nominal={"V100": 16, "A100": 8}, cohort="c", lending_limit={"V100": 8}),
        "t2": QueueSpec(nominal={"A100": 8, "V100": 8}, cohort="c"),
    }
    return jobs, queues


def test_a_borrower_is_preempted_youngest_first_when_the_lender_wants_its_quota_back() -> None:
    rows = [
        ("b0", 0, 8, 100, "b"),  # within b's nominal
        ("b1", 1, 4, 100, "b"),  # borrows from a
        ("b2", 2, 4, 100, "b"),  # borrows from a (the youngest)
        ("a0", 10, 4, 50, "a"),  # a wants 4 of its 8 back: only b2 goes
    ]
    res = run(rows, "2x8:A100", TWO, preempt_overhead_s=0.0)
    s = starts(res)
    assert s["a0"] == 10.0
    pre = dict(zip(res.jobs["job_id"].to_list(), res.jobs["preemptions"].to_list(), strict=True))
    assert pre == {"b0": 0, "b1": 0, "b2": 1, "a0": 0}
    assert res.summary.quota.reclaim_preemptions == 1
    # b2 resumes when a0 ends (t=60), keeping its progress: it had run 8 s of 100
    fin = dict(zip(res.jobs["job_id"].to_list(), res.jobs["finish"].to_list(), strict=True))
    assert fin["b2"] == pytest.approx(60 + 92)


def test_without_reclaim_the_lender_waits_and_without_a_cohort_nobody_borrows() -> None:
    rows = [("b0", 0, 8, 100, "b"), ("b1", 1, 8, 100, "b"), ("a0", 10, 8, 50, "a")]
    res = run(rows, "2x8:A100", TWO, reclaim=False)
    assert starts(res) == {"b0": 0.0, "b1": 1.0, "a0": 100.0}
    alone = {"a": QueueSpec(nominal=8), "b": QueueSpec(nominal=8)}
    res = run(rows, "2x8:A100", alone)
    # b1 may not borrow a's idle quota; a0 starts at once on its own quota
    assert starts(res) == {"b0": 0.0, "b1": 100.0, "a0": 10.0}
    assert res.summary.preemptions == 0


def test_borrowing_and_lending_limits() -> None:
    rows = [("b0", 0, 8, 100, "b"), ("b1", 0, 4, 100, "b"), ("b2", 0, 4, 100, "b")]
    limited = {"a": QueueSpec(nominal=8, cohort="c"), "b": QueueSpec(nominal=8, cohort="c", borrowing_limit=4)}
    assert starts(run(rows, "2x8:A100", limited)) == {"b0": 0.0, "b1": 0.0, "b2": 100.0}
    lend = {"a": QueueSpec(nominal=8, cohort="c", lending_limit=0), "b": QueueSpec(nominal=8, cohort="c")}
    assert starts(run(rows, "2x8:A100", lend)) == {"b0": 0.0, "b1": 100.0, "b2": 100.0}


def test_typed_quotas_put_untyped_jobs_on_their_flavor() -> None:
    rows = [("a0", 0, 4, 10, "a"), ("a1", 0, 4, 10, "a"), ("b0", 0, 2, 10, "b")]
    queues = {"a": QueueSpec(nominal={"A100": 8}), "b": QueueSpec(nominal={"V100": 8})}
    res = run(rows, "1x8:A100,1x8:V100", queues)
    nodes = dict(zip(res.jobs["job_id"].to_list(), res.jobs["nodes"].to_list(), strict=True))
    assert nodes["a0"] == nodes["a1"] != nodes["b0"]  # the A100 node for a, the V100 node for b
    with pytest.raises(GpufleetError, match="every queue's nominal per GPU type"):
        run(rows, "1x8:A100", {"a": QueueSpec(nominal={"A100": 8}), "b": QueueSpec(nominal=8)})


def test_jobs_without_a_queue_or_larger_than_any_quota_are_unschedulable_and_counted() -> None:
    rows = [("a0", 0, 4, 10, "a"), ("x0", 0, 1, 10, "x"), ("a1", 0, 12, 10, "a")]
    res = run(rows, "2x8:A100", {"a": QueueSpec(nominal=8)})
    q = res.summary.quota
    assert q is not None and (q.jobs_without_queue, q.jobs_over_quota, res.summary.unschedulable) == (1, 1, 2)


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS.names()))
def test_every_scheduler_inside_queues_finishes_every_job_within_quota(scheduler: str) -> None:
    j = load("synthetic:jobs", n_jobs=400).frame.filter(pl.col("num_gpus") <= 8)
    jobs = j.with_columns(
        pl.lit(None, pl.String).alias("gpu_type"),
        (pl.lit("t") + (pl.col("job_id").str.extract(r"(\d+)$").cast(pl.Int64) % 3).cast(pl.String)).alias("group"),
    )
    queues = {
        "t0": QueueSpec(nominal=24, cohort="c", borrowing_limit=8),
        "t1": QueueSpec(nominal=24, cohort="c"),
        "t2": QueueSpec(nominal=16, cohort="c"),
    }
    res = simulate(jobs, parse_spec("8x8:A100"), SimConfig(scheduler=scheduler, quota=QuotaSpec(queues=queues)))
    assert res.summary.finished == jobs.height
    tl = res.groups
    assert tl is not None and set(tl["group"]) == {"t0", "t1", "t2"}
    # the quota holds at every sample: t0 never above nominal + borrowing limit, the cohort never above its pool
    limit = {"t0": 32.0, "t1": 64.0, "t2": 64.0}
    assert all(u <= limit[g] + 1e-9 for g, u in zip(tl["group"], tl["used_gpus"], strict=True))
    assert float(tl.group_by("t").agg(pl.col("used_gpus").sum())["used_gpus"].max()) <= 64 + 1e-9  # type: ignore[arg-type]
    assert (tl["borrowed_gpus"] == (tl["used_gpus"] - tl["nominal_gpus"]).clip(0)).all()
    groups = {g.group: g for g in res.summary.groups or []}
    assert sum(g.jobs for g in groups.values()) == jobs.height
    assert groups["t2"].gpus_owned == 16


def test_queue_groups_and_a_per_queue_scheduler() -> None:
    rows = [("x", 0, 8, 100, "team-x"), ("y1", 1, 8, 300, "team-y"), ("y2", 2, 8, 10, "team-y")]
    queues = {"q": QueueSpec(nominal=8, groups=["team-x", "team-y"], scheduler="sjf")}
    res = run(rows, "2x8:A100", queues)
    # one queue of 8 GPUs: x runs, then sjf picks the shorter y2 before y1
    assert starts(res) == {"x": 0.0, "y1": 110.0, "y2": 100.0}
    assert res.jobs["queue"].to_list() == ["q", "q", "q"]


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS.names()))
def test_one_queue_holding_every_gpu_replays_exactly_like_the_pooled_cluster(scheduler: str) -> None:
    j = load("synthetic:jobs", n_jobs=800).frame
    jobs = j.with_columns(pl.lit(None, pl.String).alias("gpu_type"), pl.lit("g").alias("group"))
    nodes = parse_spec("8x8:A100")
    pooled = simulate(jobs, nodes, SimConfig(scheduler=scheduler))
    one = simulate(jobs, nodes, SimConfig(scheduler=scheduler, quota=QuotaSpec(queues={"g": QueueSpec(nominal=64)})))
    assert one.jobs.select(REPLAY).equals(pooled.jobs.select(REPLAY))


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS.names()))
def test_typed_flavors_with_typed_and_untyped_jobs_under_every_scheduler(scheduler: str) -> None:
    # per-type quotas, borrowing and lending limits, half the jobs tied to A100: preemption trials must pick
    # the flavor the quota will admit (a trial on "any type" once preempted victims for nothing)
    jobs, queues = typed_teams(load("synthetic:jobs", n_jobs=900).frame.filter(pl.col("num_gpus") <= 8))
    cfg = SimConfig(scheduler=scheduler, quota=QuotaSpec(queues=queues))
    res = simulate(jobs, parse_spec("4x8:A100,4x8:V100"), cfg)
    assert res.summary.finished == jobs.height and res.summary.quota.reclaim_preemptions > 0
    typed = res.jobs.join(jobs.select("job_id", "gpu_type"), on="job_id").filter(pl.col("gpu_type") == "A100")
    nodes = parse_spec("4x8:A100,4x8:V100")
    node_types = dict(zip(nodes["node_id"], nodes["gpu_type"], strict=True))
    assert all(node_types[n] == "A100" for s in typed["nodes"] for n in s.split(","))


def test_reclaim_takes_the_youngest_borrower_across_queues() -> None:
    three = {k: QueueSpec(nominal=8, cohort="c") for k in ("a", "b", "c")}
    rows = [
        ("b0", 0, 8, 100, "b"),
        ("c0", 0, 8, 100, "c"),
        ("b1", 1, 4, 100, "b"),  # borrows
        ("c1", 2, 4, 100, "c"),  # borrows, started last: the first to go
        ("a0", 10, 4, 100, "a"),
        ("a1", 11, 4, 100, "a"),  # a still below nominal: now b1 goes
    ]
    res = run(rows, "3x8:A100", three)
    pre = dict(zip(res.jobs["job_id"].to_list(), res.jobs["preemptions"].to_list(), strict=True))
    assert pre == {"b0": 0, "c0": 0, "b1": 1, "c1": 1, "a0": 0, "a1": 0}
    s = starts(res)
    assert (s["a0"], s["a1"]) == (10.0, 11.0)
    tl = res.groups
    assert tl is not None
    at = tl.filter(pl.col("t") == 60.0)  # after both reclaims: a at nominal, nobody borrows
    assert dict(zip(at["group"], at["used_gpus"], strict=True)) == {"a": 8.0, "b": 8.0, "c": 8.0}
    assert at["borrowed_gpus"].sum() == 0


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "any-type"])
@pytest.mark.parametrize(
    # "@refresh": user-history predictions, refreshed from submission mates while jobs wait (re-ranks queues)
    "scheduler",
    [*sorted(SCHEDULERS.names()), "sjf+blocking", "qssf+blocking", "sjf@refresh", "qssf+blocking@refresh"],
)
def test_skipping_queues_that_cannot_change_is_exact(scheduler: str, typed: bool) -> None:
    # queues whose last pass started nothing are skipped until a job joins them, GPUs are given back or a
    # cohort-mate borrows; a replay with skipping off must give the same starts, preemptions and nodes
    j = load("synthetic:jobs", n_jobs=900).frame.filter(pl.col("num_gpus") <= 16)
    if typed:
        jobs, queues = typed_teams(j)
        nodes = parse_spec("4x8:A100,4x8:V100")
    else:  # four teams on one type, one lending only half its quota
        k = pl.col("job_id").str.extract(r"(\d+)$").cast(pl.Int64)
        jobs = j.with_columns(
            pl.lit(None, pl.String).alias("gpu_type"), (pl.lit("t") + (k % 4).cast(pl.String)).alias("group")
        )
        queues = {f"t{x}": QueueSpec(nominal=16, cohort="c", lending_limit=8 if x == 1 else None) for x in range(4)}
        nodes = parse_spec("8x8:A100")
    scheduler, _, refresh = scheduler.partition("@")
    name, _, blocking = scheduler.partition("+")
    predictor = "user-history" if refresh else "oracle"
    sched = {"name": name, "settings": {"blocking": True} if blocking else {}}
    cfg = SimConfig(scheduler=sched, predictor=predictor, quota=QuotaSpec(queues=queues))
    fast = simulate(jobs, nodes, cfg)
    assert (fast.summary.mate_refreshes > 0) == bool(refresh)
    every_pass = QuotaDispatcher(cfg.quota, queue_schedulers(cfg.quota, name, cfg.scheduler.settings), skip_clean=False)
    slow = simulate(jobs, nodes, cfg, scheduler=every_pass)
    assert fast.summary.quota.reclaim_preemptions > 0
    assert fast.jobs.select(REPLAY).equals(slow.jobs.select(REPLAY))


def test_reclaim_counts_free_nodes_without_victims_when_the_quota_held_the_job_back() -> None:
    # a5 (8 GPUs) is within a's nominal once a2 ends at 120, but the cohort pool is full of b's borrowing (b1).
    # b1's node would then have only 6 whole GPUs free, yet node 3 is empty: reclaiming b1 gives the quota
    # back and a5 starts on the empty node. (A check that looked only at the victims' nodes let it wait for
    # b0 to finish at 300.)
    rows = [
        ("b0", 0, 2, 300, "b"),  # node 1 with a2
        ("a2", 20, 6, 100, "a"),
        ("b4", 20, 2, 200, "b"),  # node 2 with b1
        ("b1", 40, 6, 300, "b"),  # borrows 2: b holds 10 of its 8
        ("b3", 50, 2, 200, "b"),
        ("a5", 50, 8, 200, "a"),
    ]
    res = run(rows, "3x8:A100", TWO)
    s = starts(res)
    pre = dict(zip(res.jobs["job_id"].to_list(), res.jobs["preemptions"].to_list(), strict=True))
    assert s["a5"] == 120.0 and pre["b1"] == 1 and pre["a5"] == 0
    nodes = dict(zip(res.jobs["job_id"].to_list(), res.jobs["nodes"].to_list(), strict=True))
    assert nodes["a5"] not in (nodes["b0"], nodes["b4"])


@pytest.mark.parametrize(
    ("scheduler", "setup"),
    [(s, m) for s in ("tiresias", "srtf") for m in ("pooled", "quota", "typed")] + [("sjf", "quota"), ("sjf", "typed")],
)
def test_the_pre_trial_gpu_check_only_skips_trials_that_would_fail(
    scheduler: str, setup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with the check replaced by "always try", every preemption trial runs: the replay must not change
    j = load("synthetic:jobs", n_jobs=800).frame
    k = pl.col("job_id").str.extract(r"(\d+)$").cast(pl.Int64)
    jobs = j.with_columns((pl.lit("t") + (k % 3).cast(pl.String)).alias("group"))
    if setup == "pooled":
        cfg = SimConfig(scheduler=scheduler)
    elif setup == "quota":
        jobs = jobs.with_columns(pl.lit(None, pl.String).alias("gpu_type"))
        cfg = SimConfig(
            scheduler=scheduler, quota=QuotaSpec(queues={f"t{x}": QueueSpec(nominal=12, cohort="c") for x in range(3)})
        )
    else:
        jobs = jobs.with_columns(
            pl.when(k % 2 == 0).then(pl.lit(None, pl.String)).otherwise(pl.lit("A100")).alias("gpu_type")
        )
        queues = {f"t{x}": QueueSpec(nominal={"A100": 12, "V100": 2}, cohort="c") for x in range(3)}
        cfg = SimConfig(scheduler=scheduler, quota=QuotaSpec(queues=queues))
    nodes = parse_spec("6x8:A100,2x4:V100")
    checked = simulate(jobs, nodes, cfg).jobs.select(REPLAY)
    monkeypatch.setattr(TrainingSim, "_whole_gpus_could_fit", lambda self, req, victims: True)
    tried = simulate(jobs, nodes, cfg).jobs.select(REPLAY)
    assert checked["preemptions"].sum() > 0
    assert checked.equals(tried)


def test_each_queues_scheduler_sees_a_declared_scheduling_context_and_nothing_more() -> None:
    from gpufleet.sim.quota import QueueContext
    from gpufleet.sim.schedulers import SchedulingContext

    declared = {k for k in vars(SchedulingContext) if not k.startswith("_")}
    seen: dict[str, Any] = {}

    class Grab:
        def attach(self, sim: TrainingSim) -> None:
            seen["sim"] = sim

    rows = [("a0", 0, 4, 100, "a"), ("b0", 0, 4, 100, "b")]
    q = QuotaSpec(queues=TWO)
    simulate(grouped(rows), parse_spec("2x8:A100"), SimConfig(scheduler="srtf", quota=q), observers=[Grab()])
    sim = seen["sim"]
    ctx = sim.scheduler.views[0]
    assert isinstance(ctx, QueueContext) and "__getattr__" not in vars(QueueContext)
    for member in declared:  # the simulator itself is a context too (the pooled run's)
        assert hasattr(ctx, member) and hasattr(sim, member), member
    public = {k for k in dir(ctx) if not k.startswith("_")}
    assert public - declared == {"blocked_on_place"}  # the dispatcher's note, not the simulator's state
    for internal in ("placement", "scheduler", "quota", "engine", "view"):  # preempt is declared (Lucid's loop)
        assert not hasattr(ctx, internal)
