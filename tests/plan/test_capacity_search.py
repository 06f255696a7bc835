"""plan_capacity on small synthetic workloads: the answer is the cheapest fleet that meets the target, checked
against every fleet replayed one by one (a search that skipped past the answer or stopped one short fails
here); jobs no type can run are counted, never dropped; growth and the early stop keep their promises."""

from __future__ import annotations

import math

import polars as pl
import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import default_prices
from gpufleet.plan.capacity import CapacityQuestion, check_candidates, plan_capacity
from gpufleet.plan.capacity_probe import Target, fleet_nodes, parse_target, probe
from gpufleet.plan.growth import daily_submissions, forecast_growth, scale_arrivals
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate

HI = 12  # nodes of 2 GPUs: 24 GPUs start every job below at once
CFG = SimConfig(scheduler="fifo-backfill", placement="best-fit", speeds="spec")


def _jobs(types: list[str | None] | None = None) -> pl.DataFrame:
    """24 jobs in two bursts, 1-2 GPUs each, plus one 4-GPU job that needs two 2-GPU nodes."""
    n = 24
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)] + ["wide"],
            "submit_time": [0.0 if i < 16 else 600.0 for i in range(n)] + [0.0],
            "num_gpus": [1.0 + (i % 3 == 0) for i in range(n)] + [4.0],
            "duration": [300.0 + 97.0 * (i % 7) for i in range(n)] + [400.0],
            "gpu_type": types or ["A100"] * (n + 1),
            "kind": ["train"] * (n + 1),
        },
        schema_overrides={"gpu_type": pl.Utf8},
    )


def _question(target_s: float, jobs: pl.DataFrame | None = None, **kw: object) -> CapacityQuestion:
    args: dict[str, object] = {
        "jobs": _jobs() if jobs is None else jobs,
        "candidates": ["A100"],
        "target": Target("p95", "wait", target_s),
        "cfg": CFG,
        "prices": default_prices(),
        "per_node": 2,
        "max_nodes": HI,
    }
    return CapacityQuestion(**(args | kw))  # type: ignore[arg-type]


def _value(jobs: pl.DataFrame, spec: str) -> float:
    """p95 wait of a plain replay, jobs that never ran counted as waiting forever."""
    return Target("p95", "wait", 0).value(simulate(jobs, parse_spec(spec), CFG).jobs)


@pytest.fixture(scope="module")
def p95_by_nodes() -> dict[int, float]:
    jobs = _jobs()
    return {n: _value(jobs, f"{n}x2:A100") for n in range(1, HI + 1)}


@pytest.mark.parametrize("target_s", [0.0, 120.0, 400.0, 900.0])
def test_answer_is_the_smallest_fleet_meeting_the_target(target_s: float, p95_by_nodes: dict[int, float]) -> None:
    want = min(n for n, p in p95_by_nodes.items() if p <= target_s)
    res = plan_capacity(_question(target_s), workers=1)
    assert res["met"] and res["add"] == {"A100": want} and res["gpus_added"] == 2 * want
    assert res["value_s"] == p95_by_nodes[want] <= target_s
    assert res["usd_per_month"] == pytest.approx(2 * want * default_prices().rate("A100") * 730)  # type: ignore[operator]
    # minimality: one node fewer was replayed and missed (one node can never run the 4-GPU job: never)
    (fewer,) = res["minimality"]
    assert fewer["add"] == ({"A100": want - 1} if want > 1 else {}) and not fewer["met"]
    assert res["next_cheaper"] == fewer
    if want > 1:
        assert fewer["value_s"] == p95_by_nodes[want - 1] > target_s and not fewer["stopped_early"]
    # a bracket search, not a scan of every count
    assert res["replays"] < HI


def test_the_targets_in_this_case_give_different_answers(p95_by_nodes: dict[int, float]) -> None:
    """The case is not degenerate: the targets above land on at least three different fleet sizes."""
    answers = {min(n for n, p in p95_by_nodes.items() if p <= t) for t in (0.0, 120.0, 400.0, 900.0)}
    assert len(answers) >= 3


def test_a_looser_target_never_needs_more_nodes() -> None:
    sizes = [plan_capacity(_question(t), workers=1)["add"]["A100"] for t in (0.0, 60.0, 300.0, 900.0, 1e9)]
    assert sizes == sorted(sizes, reverse=True)
    # no wait limit: one node, the wide job that never runs on it being inside the p95's 5% tail; a p100 needs
    # every job to run: two nodes
    assert sizes[-1] == 1
    every = plan_capacity(_question(1e9, target=Target("p100", "wait", 1e9)), workers=1)
    assert every["add"] == {"A100": 2} and every["minimality"][0]["unschedulable"] == 1


def test_a_target_no_fleet_meets_says_so() -> None:
    res = plan_capacity(_question(0.0, max_nodes=3), workers=1)
    assert not res["met"] and res["add"] is None and "even 3 nodes" in res["answer"]


def test_an_existing_fleet_that_meets_the_target_needs_nothing() -> None:
    res = plan_capacity(_question(900.0, base_spec="12x2:A100", base_label="12x2:A100"), workers=1)
    assert res["met"] and res["add"] == {} and res["usd_per_month"] == 0
    assert [p["phase"] for p in res["probes"]] == ["existing fleet"]


def test_the_value_is_the_summarys_when_every_job_finishes_and_inf_when_one_never_runs() -> None:
    jobs = _jobs()
    res = simulate(jobs, parse_spec("6x2:A100"), CFG)
    assert res.summary.unfinished == res.summary.unschedulable == 0
    assert Target("p95", "wait", 0).value(res.jobs) == res.summary.p95_wait_s
    assert Target("avg", "wait", 0).value(res.jobs) == pytest.approx(res.summary.avg_wait_s)
    one = simulate(jobs, parse_spec("1x2:A100"), CFG)
    assert one.summary.unschedulable == 1 and one.summary.p95_wait_s < math.inf  # the summary leaves it out
    assert Target("p100", "wait", 0).value(one.jobs) == math.inf  # here it waits forever


def test_jobs_no_candidate_can_run_are_counted_and_wait_forever() -> None:
    # 5 of 25 jobs typed for H100, only A100 offered: 20% wait forever, so no p95 can be met
    jobs = _jobs(["H100"] * 5 + ["A100"] * 20)
    res = plan_capacity(_question(900.0, jobs), workers=1)
    assert not res["met"] and res["replays"] == 0
    assert res["unschedulable"]["jobs"] == 5 and res["unschedulable"]["counted_as"] == "waiting forever"
    assert "5 of 25 jobs (20.0%)" in res["answer"] and "--ignore-unschedulable" in res["answer"]
    # left out on request: the answer sizes the other 20, and still says how many were left out
    ign = plan_capacity(_question(900.0, jobs, ignore_unschedulable=True), workers=1)
    assert ign["met"] and ign["unschedulable"]["jobs"] == 5
    assert ign["unschedulable"]["counted_as"].startswith("left out")
    assert ign["answer_probe"]["unschedulable"] == 0


def test_a_few_jobs_no_candidate_can_run_stay_in_the_tail() -> None:
    # 1 of 25 (4%) typed for H100: it waits forever, inside the p95's 5% tail; the answer counts it
    jobs = _jobs(["H100"] + ["A100"] * 24)
    res = plan_capacity(_question(900.0, jobs), workers=1)
    assert res["met"] and res["unschedulable"]["jobs"] == 1 and res["answer_probe"]["unschedulable"] == 1
    # and under a p99 the same job alone keeps the target out of reach
    assert not plan_capacity(_question(900.0, jobs, target=Target("p99", "wait", 900.0)), workers=1)["met"]


def test_jobs_typed_for_two_candidates_get_a_mix_and_each_type_is_minimal() -> None:
    jobs = _jobs(["H100" if i % 2 else "A100" for i in range(24)] + ["A100"])
    res = plan_capacity(_question(400.0, jobs, candidates=["A100", "H100"]), workers=1)
    assert res["met"] and set(res["add"]) == {"A100", "H100"}
    assert [p["phase"] for p in res["probes"] if p["phase"] == "every type"]  # no single type could do it
    spec = ",".join(f"{n}x2:{t}" for t, n in res["add"].items())
    assert _value(jobs, spec) == res["value_s"] <= 400.0  # a plain replay of the answer agrees
    assert len(res["minimality"]) == 2 and not any(r["met"] for r in res["minimality"])
    for t in res["add"]:
        less = ",".join(f"{m - (u == t)}x2:{u}" for u, m in res["add"].items() if m - (u == t) > 0)
        assert _value(jobs, less) > 400.0, t


def test_marginal_cost_swaps_pick_the_cheaper_mix() -> None:
    # untyped jobs, two types with their list prices: the answer is never dearer than the cheapest single type
    jobs = _jobs([None] * 25)
    res = plan_capacity(_question(120.0, jobs, candidates=["A100", "H100"]), workers=1)
    singles = [r for r in res["probes"] if r["phase"] == "one type" and r["met"]]
    assert res["met"] and res["usd_per_month"] <= min(r["usd_per_month"] for r in singles)
    assert not any(r["met"] and r["usd_per_month"] < res["usd_per_month"] for r in res["probes"])


def test_the_process_pool_gives_the_same_answer() -> None:
    one = plan_capacity(_question(120.0), workers=1)
    two = plan_capacity(_question(120.0), workers=2)
    strip = ("wall_s",)
    assert one["add"] == two["add"]
    assert [{k: v for k, v in r.items() if k not in strip} for r in one["probes"]] == [
        {k: v for k, v in r.items() if k not in strip} for r in two["probes"]
    ]


@pytest.mark.parametrize("nodes", range(2, 9))
def test_the_early_stop_never_changes_the_verdict(nodes: int) -> None:
    jobs, target = _jobs(), Target("p95", "wait", 120.0)
    cfg = CFG.model_dump()
    full = probe((jobs, None, None, (("A100", nodes),), 2, cfg, None, target, False))
    early = probe((jobs, None, None, (("A100", nodes),), 2, cfg, None, target, True))
    assert (full["value_s"] <= 120.0) == (early["value_s"] <= 120.0)
    assert early["stopped_early"] or early["value_s"] == full["value_s"]


def test_growth_compresses_arrivals_and_needs_no_fewer_nodes() -> None:
    jobs = _jobs()
    grown = scale_arrivals(jobs, 2.0)
    assert grown["submit_time"].to_list() == [t / 2 for t in jobs["submit_time"]]
    assert grown["duration"].to_list() == jobs["duration"].to_list()
    spread = jobs.with_columns((pl.col("submit_time") * 3 + pl.int_range(25) * 50.0).alias("submit_time"))
    sizes = [plan_capacity(_question(120.0, scale_arrivals(spread, g)), workers=1)["add"]["A100"] for g in (1, 3)]
    assert sizes[1] >= sizes[0]
    with pytest.raises(GpufleetError, match="finite number > 0"):
        scale_arrivals(jobs, 0.0)


def test_forecast_growth_is_projected_over_recent_daily_submissions() -> None:
    # 30 days, day d has d + 1 submissions (the last, partial day is left out of the series)
    times = [d * 86400.0 + k for d in range(30) for k in range(d + 1)]
    jobs = pl.DataFrame({"submit_time": times})
    series = daily_submissions(jobs)
    assert series["y"].to_list() == [float(d + 1) for d in range(29)]
    g = forecast_growth(jobs, "naive-last")  # the last full day, repeated
    assert g["recent_mean_per_day"] == sum(range(23, 30)) / 7 and g["projected_mean_per_day"] == 29.0
    assert g["factor"] == pytest.approx(29.0 / g["recent_mean_per_day"]) and g["factor"] > 1


def test_bad_targets_and_candidates_are_one_line() -> None:
    assert parse_target("p95_wait<=1h") == Target("p95", "wait", 3600.0)
    assert parse_target(" avg_jct <= 90m ").limit_s == 5400.0
    for bad in ("p95_wait<1h", "wait<=1h", "p95_wait<=soon", "p0_wait<=1h", ""):
        with pytest.raises(GpufleetError, match="--target"):
            parse_target(bad)
    assert check_candidates(["a100", "H100", "A100"], default_prices()) == ["A100", "H100"]
    with pytest.raises(GpufleetError, match="unknown GPU type"):
        check_candidates(["X9"], default_prices())
    with pytest.raises(GpufleetError, match="name at least one"):
        check_candidates([], default_prices())


def test_a_nodes_frame_base_keeps_its_nodes_and_names_the_added_ones() -> None:
    base = parse_spec("2x8:V100")
    nodes = fleet_nodes(None, base, {"A100": 2}, 4)
    assert nodes.height == 4 and nodes["node_id"].n_unique() == 4
    assert nodes.filter(pl.col("gpu_type") == "A100")["node_id"].str.starts_with("added-").all()
    assert fleet_nodes("2x8:V100", None, {"A100": 2}, 4).equals(parse_spec("2x8:V100,2x4:A100"))
