"""Hand-worked scenarios with exact expected JCTs for every scheduler (the reasoning is beside each table).

Cluster specs: `1x4` = one node of 4 GPUs. Rows are (job, submit s, GPUs, duration s).
"""

from __future__ import annotations

import pytest
from tests.sim.helpers import jct, sim

# Scenario A: one 4-GPU node.
#   J1 t=0 4 GPUs 100 s, J2 t=1 4 GPUs 50 s, J3 t=2 1 GPU 10 s, J4 t=3 4 GPUs 20 s.
A = [("J1", 0, 4, 100), ("J2", 1, 4, 50), ("J3", 2, 1, 10), ("J4", 3, 4, 20)]
A_EXPECTED = {
    # J1 0-100; J2 100-150; J3 150-160 (it was blocked behind J2); J4 needs 4, waits for J3: 160-180.
    "fifo": {"J1": 100, "J2": 149, "J3": 158, "J4": 177},
    # At 100 the order is J3 (10 s), J4 (20 s), J2 (50 s): J3 100-110, J4 110-130, J2 130-180.
    "sjf": {"J1": 100, "J3": 108, "J4": 127, "J2": 179},
    # GPU-time J3 10, J4 80, J2 200: the same order as SJF.
    "qssf": {"J1": 100, "J3": 108, "J4": 127, "J2": 179},
    # Nothing can backfill: every gap is 0 GPUs wide, so EASY equals FIFO here.
    "fifo-backfill": {"J1": 100, "J2": 149, "J3": 158, "J4": 177},
    # All stay in queue 0 (far below 18,000 GPU-s), FIFO within it; J3 cannot jump J2 while 0 GPUs are free.
    "tiresias": {"J1": 100, "J2": 149, "J3": 158, "J4": 177},
    # srtf preempts: worked out step by step in test_srtf_scenario_a below.
}


@pytest.mark.parametrize("sched", sorted(A_EXPECTED))
def test_scenario_a(sched: str) -> None:
    assert jct(sim(A, "1x4", scheduler=sched)) == A_EXPECTED[sched]


def test_srtf_scenario_a() -> None:
    # restore overhead 10 s. Remaining work is tracked per job.
    # t=1: J2 (50) beats J1 (99 left): J1 preempted (1 s done, 99 left), J2 runs 1-51.
    # t=2: J3 (10) ranks first; chosen = {J3}, J2 (49 left) would need 4 more GPUs -> preempted (1 s done, 49 left);
    #      J3 runs 2-12; fill: nothing else fits in the 3 free GPUs.
    # t=3: J4 (20): ranks J3(9), J4(20), J2(49), J1(99); chosen {J3}; J4 cannot fit (3 free) and no victim
    #      (only J3 runs, and it is chosen). Fill: nothing fits.
    # t=12: J3 done. Chosen J4 -> 12-32. (Ranks: J4 20, J2 49, J1 99.)
    # t=32: J2 resumes with 10 s overhead + 49 s: 32-91. t=91: J1 resumes: 91 + 10 + 99 = 200.
    res = sim(A, "1x4", scheduler="srtf", preempt_overhead_s=10)
    assert jct(res) == {"J1": 200, "J2": 90, "J3": 10, "J4": 29}
    assert dict(zip(res.jobs["job_id"], res.jobs["preemptions"], strict=True)) == {"J1": 1, "J2": 1, "J3": 0, "J4": 0}


# Scenario B: EASY backfill. One 4-GPU node.
#   J1 t=0 2 GPUs 100 s; J2 t=1 4 GPUs 10 s (blocked: 2 free); J3 t=2 2 GPUs 50 s; J4 t=3 1 GPU 200 s.
B = [("J1", 0, 2, 100), ("J2", 1, 4, 10), ("J3", 2, 2, 50), ("J4", 3, 1, 200)]


def test_scenario_b_fifo_blocks() -> None:
    # J2 waits for J1 (100-110); J3 and J4 wait behind it: 110-160 and 110-310.
    assert jct(sim(B, "1x4", scheduler="fifo")) == {"J1": 100, "J2": 109, "J3": 158, "J4": 307}


def test_scenario_b_backfill() -> None:
    # J2's reservation is at 100 (J1's predicted end) with 0 GPUs to spare. J3 ends at 52 <= 100: it backfills
    # 2-52. J4 would end at 203 > 100 and there are no spare GPUs: it waits; J2 100-110; J4 110-310.
    assert jct(sim(B, "1x4", scheduler="fifo-backfill")) == {"J1": 100, "J2": 109, "J3": 50, "J4": 307}


# Scenario C: preemption cost. One 4-GPU node, restore overhead 10 s.
C = [("J1", 0, 4, 100), ("J2", 10, 4, 20)]


def test_scenario_c_srtf() -> None:
    # At 10 J1 has 90 s left > 20: J1 is preempted, J2 runs 10-30, J1 resumes 30 + 10 + 90 = 130.
    assert jct(sim(C, "1x4", scheduler="srtf", preempt_overhead_s=10)) == {"J1": 130, "J2": 20}


def test_scenario_c_tiresias_threshold() -> None:
    # Threshold 100 GPU-s: J1 (4 GPUs) crosses it at 25 and drops to queue 1; J2 (queue 0) preempts it at 25
    # and runs 25-45 (it would cross at 50). J1 resumes at 45: 45 + 10 + 75 = 130.
    tiresias = {"name": "tiresias", "settings": {"threshold_gpu_s": 100}}
    res = sim(C, "1x4", scheduler=tiresias, preempt_overhead_s=10)
    assert jct(res) == {"J1": 130, "J2": 35}


def test_scenario_c_tiresias_default_threshold_is_fifo_like() -> None:
    # 18,000 GPU-s is never reached: both stay in queue 0 and FIFO order holds: J1 0-100, J2 100-120.
    assert jct(sim(C, "1x4", scheduler="tiresias")) == {"J1": 100, "J2": 110}


# Scenario D: placement. Two 4-GPU nodes. J1 t=0 1 GPU 100 s, J2 t=1 1 GPU 100 s, J3 t=2 4 GPUs 10 s.
D = [("J1", 0, 1, 100), ("J2", 1, 1, 100), ("J3", 2, 4, 10)]


@pytest.mark.parametrize(
    ("placement", "j3"),
    [
        ("best-fit", 10),
        ("first-fit", 10),
        ("consolidate", 10),
        ("worst-fit", 108),
        ("gpu-packing", 10),
        ("dot-product", 108),
    ],
)
def test_scenario_d_placement(placement: str, j3: float) -> None:
    # best/first-fit and consolidate put J2 next to J1 on node 0, leaving node 1 whole for J3 at 2.
    # worst-fit spreads J2 to node 1 (4 free > 3 free): J3 waits until J1 frees node 0 at 100: 100-110.
    # gpu-packing keeps J2 on the busy node 0; dot-product (GPU only here: 1/4 x free/4) prefers node 1's 4 free.
    res = sim(D, "2x4", placement=placement)
    assert jct(res)["J3"] == j3
    if placement == "worst-fit":
        # between 2 and 100 the queue holds J3 (4 GPUs) and each node has 3 free: 6 GPUs stranded
        tl = res.timeline.filter((res.timeline["t"] >= 60) & (res.timeline["t"] < 100))
        assert tl["stranded_gpus"].to_list() == [6.0] and tl["idle_gpus"].to_list() == [6.0]


def test_fractional_gpus_share_one_gpu() -> None:
    # One node with one GPU: two half-GPU pods share it (0-10); a 0.6 pod waits for a whole free GPU share: 10-20.
    res = sim([("a", 0, 0.5, 10), ("b", 0, 0.5, 10), ("c", 0, 0.6, 10)], "1x1")
    assert jct(res) == {"a": 10, "b": 10, "c": 20}


def test_gang_spans_nodes_in_chunks_of_eight() -> None:
    # 16 GPUs on two 8-GPU nodes at once; the 12-GPU job (8 + 4) waits for both nodes: 10-20.
    res = sim([("big", 0, 16, 10), ("mid", 0, 12, 10)], "2x8")
    assert jct(res) == {"big": 10, "mid": 20}
    assert res.jobs["n_nodes"].to_list() == [2, 2]
    # with multi-node off both are larger than any node: unschedulable, counted and listed
    off = sim([("big", 0, 16, 10), ("mid", 0, 12, 10)], "2x8", multi_node=False)
    assert off.summary.unschedulable == 2 and off.summary.unschedulable_jobs == ["big", "mid"]


def test_small_jobs_never_spread_across_nodes() -> None:
    # 4 GPUs free in total (2 + 2) is not enough for a 4-GPU job that fits on one node: it waits (t=100).
    res = sim([("a", 0, 2, 100), ("b", 0, 2, 100), ("c", 1, 4, 5)], "2x4", placement="worst-fit")
    assert jct(res)["c"] == 104


def test_too_large_and_wrong_type_are_unschedulable_not_waited_on() -> None:
    res = sim([("huge", 0, 8, 10), ("pinned", 0, 1, 10, "A100"), ("ok", 1, 2, 5)], "1x4:V100")
    assert res.summary.unschedulable == 2
    assert sorted(res.summary.unschedulable_jobs) == ["huge", "pinned"]
    assert jct(res)["ok"] == 5 and res.summary.finished == 1


def test_gpu_type_constraint_and_speed_factor() -> None:
    # A100 runs twice as fast here; the pinned V100 job goes to the V100 node at its own speed.
    res = sim(
        [("fast", 0, 4, 100), ("slow", 0, 4, 100, "V100")],
        "1x4:A100,1x4:V100",
        placement="first-fit",
        speeds={"A100": 2.0, "V100": 1.0},
    )
    assert jct(res) == {"fast": 50, "slow": 100}


def test_zero_length_jobs_and_stable_order_for_ties_and_unsorted_input() -> None:
    # input order b(5), a(0), c(5), z(5, zero length): replay order a, b, c, z (submit time, then input order)
    res = sim([("b", 5, 1, 10), ("a", 0, 1, 10), ("c", 5, 1, 10), ("z", 5, 1, 0)], "1x1")
    assert res.jobs["job_id"].to_list() == ["a", "b", "c", "z"]
    assert jct(res) == {"a": 10, "b": 15, "c": 25, "z": 25}  # z waits behind c in strict FIFO, then takes 0 s
    alone = sim([("z", 5, 1, 0)], "1x1")
    assert jct(alone) == {"z": 0} and alone.summary.avg_wait_s == 0


def test_empty_trace_gives_zero_summary() -> None:
    res = sim([], "4x8")
    s = res.summary
    assert s.jobs == 0 and s.finished == 0 and s.unschedulable == 0
    assert s.avg_jct_s == 0 and s.p99_wait_s == 0 and s.makespan_s == 0 and s.avg_gpu_allocation == 0
    assert res.jobs.height == 0


def test_jobs_without_duration_are_counted_not_lost() -> None:
    res = sim([("a", 0, 1, 10), ("b", 1, 1, None)], "1x1")
    assert res.summary.jobs == 2 and res.summary.skipped_unknown_duration == 1
    assert res.summary.skipped_unknown_duration_jobs == ["b"]
