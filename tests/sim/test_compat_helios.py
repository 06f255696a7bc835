"""`--compat helios`: the same per-job start times as the Helios/Lucid simulator's FIFO and SJF, on hand-built
traces that exercise its rules and on a per-VC Philly replay, checked against a transcription of its loop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.sim import helios_reference
from tests.sim.helpers import jobs_frame

from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.tenancy import TenancySpec, run_partitioned

HELIOS = SimConfig(compat="helios")


def ours(rows: list[tuple[Any, ...]], nodes: int, scheduler: str, cfg: SimConfig = HELIOS) -> dict[str, float]:
    cfg = SimConfig(**(cfg.model_dump() | {"scheduler": scheduler}))
    res = simulate(jobs_frame(rows), parse_spec(f"{nodes}x8"), cfg)
    return dict(zip(res.jobs["job_id"].to_list(), res.jobs["start"].to_list(), strict=True))


def reference(rows: list[tuple[Any, ...]], nodes: int, policy: str) -> dict[str, float]:
    jobs = [{"job_id": r[0], "submit_time": int(r[1]), "gpu_num": int(r[2]), "duration": int(r[3])} for r in rows]
    return {k: float(v) for k, v in helios_reference.replay(jobs, nodes, policy).items()}


# Each case: rows (job_id, submit, gpus, duration), nodes, scheduler, expected starts (worked out by hand from
# the rules; the reference transcription must agree too).
CASES = {
    # same-second arrivals keep trace order in FIFO; SJF ties on duration keep it too
    "ties-fifo": ([("c", 0, 8, 10), ("a", 0, 8, 5), ("b", 0, 8, 5)], 1, "fifo", {"c": 0, "a": 10, "b": 15}),
    "ties-sjf": ([("c", 0, 8, 10), ("a", 0, 8, 5), ("b", 0, 8, 5)], 1, "sjf", {"a": 0, "b": 5, "c": 10}),
    # a job ending at t frees its GPUs for a job arriving at t (no wait)
    "finish-before-arrival": ([("x", 0, 8, 10), ("y", 10, 8, 5)], 1, "fifo", {"x": 0, "y": 10}),
    # head-of-line blocking: the 16-GPU head blocks the 1-GPU job behind it, in FIFO and in Helios' SJF
    "blocking-fifo": (
        [("r", 0, 8, 100), ("big", 1, 16, 50), ("small", 2, 1, 10)],
        2,
        "fifo",
        {"r": 0, "big": 100, "small": 150},
    ),
    "blocking-sjf": (
        [("r", 0, 8, 100), ("big", 1, 16, 5), ("small", 2, 1, 10)],
        2,
        "sjf",
        {"r": 0, "big": 100, "small": 105},
    ),
    # fragmentation: 12 GPUs = one free node + 4 on the NEXT FREE node (not the half-used one), so the 8-GPU
    # job after it finds no free node and waits
    "remainder-on-a-free-node": (
        [("half", 0, 4, 100), ("g12", 1, 12, 50), ("g8", 2, 8, 10)],
        3,
        "fifo",
        {"half": 0, "g12": 1, "g8": 51},
    ),
    # best fit for <= 8 GPUs: the 2-GPU job goes on the fuller node (node 1, 2 free), leaving node 0's 4 free
    "best-fit-small": (
        [("a", 0, 4, 100), ("b", 0, 6, 100), ("c", 1, 2, 100), ("d", 2, 4, 10)],
        2,
        "fifo",
        {"a": 0, "b": 0, "c": 1, "d": 2},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hand_built_rules(case: str) -> None:
    rows, nodes, scheduler, expected = CASES[case]
    want = {k: float(v) for k, v in expected.items()}
    assert reference(rows, nodes, scheduler) == want
    assert ours(rows, nodes, scheduler) == want


def test_our_defaults_differ_where_documented() -> None:
    # default sjf skips a job that does not fit (the small job runs at once) ...
    rows, nodes, _, _ = CASES["blocking-sjf"]
    assert ours(rows, nodes, "sjf", SimConfig())["small"] == 2.0
    # ... and default best-fit puts a gang's remainder on the half-used node, so the 8-GPU job starts at once
    rows, nodes, _, _ = CASES["remainder-on-a-free-node"]
    assert ours(rows, nodes, "fifo", SimConfig())["g8"] == 2.0
    # fractional seconds: compat ticks whole seconds, the default keeps event time
    rows = [("a", 0.4, 8, 9.6), ("b", 0.5, 8, 1)]
    assert ours(rows, 1, "fifo", SimConfig())["b"] == pytest.approx(10.0)
    assert ours(rows, 1, "fifo")["b"] == 10.0  # floor(0.4) + round(9.6)


DATA = Path(os.environ.get("GPUFLEET_DATA", "../shared/traces"))


@pytest.mark.skipif(
    not (DATA / "microsoft-philly").is_dir(), reason="Philly trace not found under GPUFLEET_DATA (../shared/traces)"
)
@pytest.mark.parametrize("scheduler", ["fifo", "sjf"])
def test_per_vc_philly_replay_matches_the_reference_job_for_job(scheduler: str) -> None:
    from gpufleet.traces import load

    # Philly as shipped has no VC id: split its users into four VCs (user id mod 4), 3,000 jobs, and give each
    # VC enough 8-GPU nodes for its widest job; zero-second jobs would hang the original loop and are dropped
    jobs = (
        load("philly:jobs", data_dir=str(DATA))
        .frame.head(3000)
        .filter(pl.col("duration") >= 1, pl.col("num_gpus") >= 1)
        .with_columns(("vc" + (pl.col("user").cast(pl.Int64) % 4).cast(pl.String)).alias("group"))
    )
    vcs = {"vc0": 6, "vc1": 4, "vc2": 6, "vc3": 4}
    spec = TenancySpec(vcs=vcs)
    nodes = parse_spec(f"{sum(vcs.values())}x8")
    res = run_partitioned(jobs, nodes, spec, SimConfig(compat="helios", scheduler=scheduler))
    got = dict(zip(res.jobs["job_id"].to_list(), res.jobs["start"].to_list(), strict=True))
    waited = 0
    for vc, n in vcs.items():
        mine = jobs.filter(pl.col("group") == vc).filter(pl.col("num_gpus") <= n * 8)
        rows = list(mine.select("job_id", "submit_time", "num_gpus", "duration").iter_rows())
        want = reference(rows, n, scheduler)
        assert {k: got[k] for k in want} == want, vc
        waited += sum(1 for k, v in want.items() if v > dict((r[0], r[1]) for r in rows)[k])
    assert waited > 100  # the replay is loaded enough that queueing (and so the rules) matters


# --- preemptive schedulers: Lucid's srtf and tiresias loops (restore cost 40 s up to 8 GPUs, else 60 s) ---------


def runs(rows: list[tuple[Any, ...]], nodes: int, scheduler: str, settings: dict[str, Any]) -> dict[str, Any]:
    cfg = SimConfig(compat="helios", scheduler={"name": scheduler, "settings": settings})
    res = simulate(jobs_frame(rows), parse_spec(f"{nodes}x8"), cfg)
    return {j: (s, f) for j, s, f in res.jobs.select("job_id", "start", "finish").iter_rows()}


def reference_runs(rows: list[tuple[Any, ...]], nodes: int, policy: str, **kw: Any) -> dict[str, Any]:
    jobs = [{"job_id": r[0], "submit_time": int(r[1]), "gpu_num": int(r[2]), "duration": int(r[3])} for r in rows]
    return {
        k: (float(s), float(e)) for k, (s, e) in helios_reference.replay_preemptive(jobs, nodes, policy, **kw).items()
    }


# rows (job_id, submit, gpus, duration), nodes, scheduler, settings, expected (first start, finish) per job, worked
# out by hand from their rules: a run of r seconds left started at s ends at s + r + 1 (the countdown is seen at
# zero a tick later); a preempted job adds the restore cost to what it has left and cannot restart in that second.
PREEMPTIVE: dict[str, tuple[list[tuple[Any, ...]], int, str, dict[str, Any], dict[str, tuple[int, int]]]] = {
    # at 10 `long` has 90 s left > short's 20: preempted (90 + 40 = 130 left); short ends 10 + 20 + 1 = 31, when
    # long restarts: 31 + 130 + 1 = 162
    "srtf-preempts-and-the-victim-restarts-when-room-is-back": (
        [("long", 0, 8, 100), ("short", 10, 8, 20)],
        1,
        "srtf",
        {},
        {"long": (0, 162), "short": (10, 31)},
    ),
    # at 10 both have 40 s left: the waiting job goes first on ties, so `a` is preempted (40 + 40 left), restarts
    # when b ends at 10 + 40 + 1 = 51 and ends at 51 + 80 + 1 = 132
    "srtf-ties-go-to-the-waiting-job": (
        [("a", 0, 8, 50), ("b", 10, 8, 40)],
        1,
        "srtf",
        {},
        {"a": (0, 132), "b": (10, 51)},
    ),
    # 3 nodes: a2 and a1 share node 0, c on node 1, d on node 2; a2 ends at 6. At 10 `w` (16 GPUs, 350 s) ranks
    # before c (390 left) and d (990 left): the budget (24) chooses a1, w, c and not d, which is preempted though
    # w cannot be placed (two whole free nodes needed, one there). d waits behind w (1030 left) until w starts at
    # 301 (a1 ends: nodes 0 and 2 free) and c ends at 401: d restarts at 401 and ends at 401 + 1030 + 1
    "srtf-preempts-every-unchosen-job-even-for-nothing": (
        [("a1", 0, 4, 300), ("a2", 0, 4, 5), ("c", 0, 4, 400), ("d", 0, 8, 1000), ("w", 10, 16, 350)],
        3,
        "srtf",
        {},
        {"a1": (0, 301), "a2": (0, 6), "c": (0, 401), "d": (0, 1432), "w": (301, 652)},
    ),
    # the same with HeliosArtifact's restore costs (30 s for 2-8 GPUs): d has 990 + 30 left at 401
    "srtf-helios-restore-costs": (
        [("a1", 0, 4, 300), ("a2", 0, 4, 5), ("c", 0, 4, 400), ("d", 0, 8, 1000), ("w", 10, 16, 350)],
        3,
        "srtf",
        {"overheads": "helios"},
        {"a1": (0, 301), "a2": (0, 6), "c": (0, 401), "d": (0, 1422), "w": (301, 652)},
    ),
    # Tiresias passes only when the clock is a multiple of 60: `a` (submitted at 5) starts at 60 and ends at 161;
    # b does not fit beside it and starts at the boundary after that, 180
    "tiresias-passes-on-the-minute": (
        [("a", 5, 8, 100), ("b", 70, 2, 10)],
        1,
        "tiresias",
        {},
        {"a": (60, 161), "b": (180, 191)},
    ),
    # `long` has 8 x t GPU-seconds at t: more than 18,000 from 2251, noticed at the boundary 2280, where it drops to
    # the low queue, is preempted (5000 - 2280 + 40 = 2760 left) for `new`, which ends at 2381; long restarts at
    # the next boundary, 2400, and ends at 2400 + 2760 + 1
    "tiresias-demotes-past-18000-gpu-seconds": (
        [("long", 0, 8, 5000), ("new", 100, 8, 100)],
        1,
        "tiresias",
        {},
        {"long": (0, 5161), "new": (2280, 2381)},
    ),
    # equal submit times: at 0 the walk is h, z, y (queue order): h and y fit, z (8 GPUs) does not. From 240 on
    # (h ended at 201) the walk is run_list + que_list, so y (running) comes before z and keeps its GPUs: z waits
    # for y to end (1001) and starts at 1020. (Ties by trace order would have preempted y for z.)
    "tiresias-ties-go-to-the-running-job": (
        [("h", 0, 4, 200), ("z", 0, 8, 10), ("y", 0, 4, 1000)],
        1,
        "tiresias",
        {},
        {"h": (0, 201), "y": (0, 1001), "z": (1020, 1031)},
    ),
    # a lower threshold: 4 GPUs x 700 s > 2,500 GPU-seconds from 626, so at 660 `p` drops below `q` (submitted
    # later, high queue) and is preempted (1000 - 660 + 40 = 380 left); q ends at 660 + 300 + 1 = 961, p restarts
    # at 1020 and ends at 1020 + 380 + 1
    "tiresias-threshold-setting": (
        [("p", 0, 4, 1000), ("filler", 0, 4, 640), ("q", 30, 8, 300)],
        1,
        "tiresias",
        {"threshold_gpu_s": 2500},
        {"p": (0, 1401), "filler": (0, 641), "q": (660, 961)},
    ),
}


@pytest.mark.parametrize("case", sorted(PREEMPTIVE))
def test_preemptive_hand_built_rules(case: str) -> None:
    rows, nodes, scheduler, settings, expected = PREEMPTIVE[case]
    want = {k: (float(s), float(f)) for k, (s, f) in expected.items()}
    kw: dict[str, Any] = {"overheads": settings.get("overheads", "lucid")}
    if "threshold_gpu_s" in settings:
        kw["threshold"] = settings["threshold_gpu_s"]
    assert reference_runs(rows, nodes, scheduler, **kw) == want
    assert reference_runs(rows, nodes, scheduler, skip_idle=False, **kw) == want
    assert runs(rows, nodes, scheduler, settings) == want


def test_our_preemptive_defaults_differ_where_documented() -> None:
    rows, nodes, _, _, _ = PREEMPTIVE["srtf-preempts-every-unchosen-job-even-for-nothing"]
    cfg = SimConfig(compat="helios", scheduler={"name": "srtf", "settings": {"helios_loop": False}})
    assert cfg.scheduler.settings["helios_loop"]  # the preset wins over the setting ...
    ours_loop = SimConfig(scheduler="srtf", placement="helios-consolidate")
    res = simulate(jobs_frame(rows), parse_spec(f"{nodes}x8"), ours_loop)
    got = {j: (s, f) for j, s, f in res.jobs.select("job_id", "start", "finish").iter_rows()}
    # ... and without it nobody is preempted for a job that would not fit anyway: d runs on until a1 ends at 300,
    # when freeing d does make room for w; d restarts when c ends (400), pays 60 s and has 700 s left
    assert got["w"] == (300.0, 650.0) and got["d"] == (0.0, 1160.0)
    rows, nodes, _, _, _ = PREEMPTIVE["tiresias-passes-on-the-minute"]
    res = simulate(jobs_frame(rows), parse_spec(f"{nodes}x8"), SimConfig(scheduler="tiresias"))
    assert res.jobs["start"].to_list() == [5.0, 105.0]  # event-driven: at arrival, and when room is back


def test_the_loop_has_no_quotas() -> None:
    from gpufleet.core.errors import GpufleetError
    from gpufleet.sim.quota_spec import QuotaSpec

    cfg = SimConfig(compat="helios", scheduler="srtf", quota=QuotaSpec(queues={"a": {"nominal": 8}}))
    with pytest.raises(GpufleetError, match="know no quotas: replay them pooled or partitioned"):
        simulate(jobs_frame([("a", 0, 8, 10)]), parse_spec("1x8"), cfg)


# QSSF, deterministic given their estimator's per-job figure (the `qssf_priority` column; key = figure x GPUs).
# At 5, b and c arrive together and nothing older waits: their loop orders such a queue by GPUs, so c (2 GPUs,
# 1000 x 2) starts beside `a` and b (4 GPUs, key 4) waits for a to end at 100, although b's key is smaller.
QSSF_ROWS = [("a", 0, 4, 100), ("b", 5, 4, 100), ("c", 5, 2, 100)]
QSSF_PRIORITY = {"a": 1.0, "b": 1.0, "c": 1000.0}


def test_qssf_orders_a_queue_of_new_jobs_by_gpus_then_by_priority() -> None:
    jobs = [{"job_id": r[0], "submit_time": r[1], "gpu_num": r[2], "duration": r[3]} for r in QSSF_ROWS]
    want = {"a": 0.0, "c": 5.0, "b": 100.0}
    assert {k: float(v) for k, v in helios_reference.replay(jobs, 1, "qssf", QSSF_PRIORITY).items()} == want
    frame = jobs_frame(QSSF_ROWS).with_columns(pl.Series("qssf_priority", [QSSF_PRIORITY[r[0]] for r in QSSF_ROWS]))
    res = simulate(frame, parse_spec("1x8"), SimConfig(compat="helios", scheduler="qssf"))
    assert dict(zip(res.jobs["job_id"].to_list(), res.jobs["start"].to_list(), strict=True)) == want
    plain = simulate(frame, parse_spec("1x8"), SimConfig(scheduler="qssf", placement="helios-consolidate"))
    assert plain.jobs["start"].to_list() == [0.0, 5.0, 100.0]  # by key alone, b goes first
    with pytest.raises(Exception, match="qssf_priority: job 'c' has none"):
        simulate(frame.with_columns(pl.Series("qssf_priority", [1.0, 1.0, None])), parse_spec("1x8"), HELIOS)


def philly_week(days: float, n_vcs: int, load: float) -> tuple[pl.DataFrame, dict[str, int]]:
    """Philly's busiest week (day 49 on; 10k jobs) or its first `days`, users split into `n_vcs` VCs (user id mod
    n: the shipped trace has no VC ids), whole seconds, each VC sized so its GPU demand over the window is `load`
    of it (at least its widest job)."""
    import math

    from gpufleet.traces import load as load_trace

    start, span = 49 * 86400, days * 86400
    jobs = (
        load_trace("philly:jobs", data_dir=str(DATA))
        .frame.filter(pl.col("submit_time") >= start, pl.col("submit_time") < start + span)
        .filter(pl.col("duration") >= 1, pl.col("num_gpus") >= 1)
        .with_columns(
            pl.col("submit_time").floor(),
            pl.col("duration").round(),
            ("vc" + (pl.col("user").cast(pl.Int64) % n_vcs).cast(pl.String)).alias("group"),
        )
    )
    vcs = {}
    for (vc,), g in sorted(jobs.group_by("group"), key=lambda x: str(x[0][0])):
        demand = float((g["duration"].clip(upper_bound=span) * g["num_gpus"]).sum()) / span
        vcs[str(vc)] = max(math.ceil(demand / load / 8), math.ceil(float(g["num_gpus"].max()) / 8))  # type: ignore[arg-type]
    return jobs, vcs


def match_per_vc(jobs: pl.DataFrame, vcs: dict[str, int], scheduler: str) -> tuple[int, int, int, int]:
    """(same first start, same end, jobs, jobs that waited): ours partitioned by VC against the reference per VC."""
    res = run_partitioned(
        jobs,
        parse_spec(f"{sum(vcs.values())}x8"),
        TenancySpec(vcs=vcs),
        SimConfig(compat="helios", scheduler=scheduler),
    )
    got = {j: (s, f) for j, s, f in res.jobs.select("job_id", "start", "finish").iter_rows()}
    same = ends = n = waited = 0
    for vc, k in vcs.items():
        rows = list(
            jobs.filter(pl.col("group") == vc).select("job_id", "submit_time", "num_gpus", "duration").iter_rows()
        )
        if scheduler in ("srtf", "tiresias"):
            want = reference_runs(rows, k, scheduler)
        else:
            want = {j: (s, got[j][1]) for j, s in reference(rows, k, scheduler).items()}
        submit = {r[0]: r[1] for r in rows}
        for j, (s, e) in want.items():
            n, same, ends, waited = n + 1, same + (got[j][0] == s), ends + (got[j][1] == e), waited + (s > submit[j])
    return same, ends, n, waited


@pytest.mark.traces
@pytest.mark.skipif(not (DATA / "microsoft-philly").is_dir(), reason="Philly trace not found under GPUFLEET_DATA")
@pytest.mark.parametrize("scheduler", ["srtf", "tiresias"])
def test_two_philly_days_per_vc_match_the_reference_job_for_job(scheduler: str) -> None:
    jobs, vcs = philly_week(2, 4, 0.8)
    same, ends, n, waited = match_per_vc(jobs, vcs, scheduler)
    assert (same, ends) == (n, n) and n > 3000
    assert waited > 50  # loaded enough that preemption and the boundary decide starts
