"""A replay's dollars: the cluster's GPU-hours per node GPU type x that type's price, computed here independently
from the run's nodes, jobs and pool timeline; unpriced types are reported, never counted as $0."""

from __future__ import annotations

import polars as pl
import pytest

from gpufleet.core.prices import PriceTable, default_prices
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.summary import Summary

from .helpers import jobs_frame, sim


def _span_h(jobs: pl.DataFrame) -> float:
    return (float(jobs["finish"].max()) - float(jobs["submit"].min())) / 3600  # type: ignore[arg-type]


def test_mixed_cluster_cost_is_hours_per_type_times_price() -> None:
    rows = [(f"j{i}", 600 * i, 8 if i % 3 else 4, 3600 + 300 * i, "H100" if i % 2 else "V100") for i in range(12)]
    res = sim(rows, "2x8:H100,3x8:V100,1x4:T4")
    s, p = res.summary, default_prices()
    span = _span_h(res.jobs)
    assert s.gpu_hours_by_type == pytest.approx({"H100": 16 * span, "T4": 4 * span, "V100": 24 * span})
    assert sum(s.gpu_hours_by_type.values()) == pytest.approx(s.gpu_hours)
    want = span * (16 * (p.rate("H100") or 0) + 24 * (p.rate("V100") or 0) + 4 * (p.rate("T4") or 0))
    assert s.cost == pytest.approx(want) and want > 0
    assert s.unpriced_gpu_hours == 0 and s.priced_by == p.name
    # a user's table re-prices the same run without replaying it
    mine = PriceTable(gpus={"H100": 1.0, "V100": 0.5, "T4": 0.1}, name="mine")
    again = s.priced(mine)
    assert again.cost == pytest.approx(span * (16 * 1.0 + 24 * 0.5 + 4 * 0.1)) and again.priced_by == "mine"
    # added fields are written and read back; a summary from before them loads and stays without them
    assert Summary.model_validate(again.dump()).cost == again.cost
    old = {
        k: v for k, v in s.dump().items() if k not in ("gpu_hours_by_type", "cost", "unpriced_gpu_hours", "priced_by")
    }
    assert "cost" not in Summary.model_validate(old).priced(mine).dump()


def test_unpriced_type_gives_no_cost_and_says_how_many_hours() -> None:
    res = sim([("a", 0, 8, 3600), ("b", 10, 8, 1800)], "1x8:H100,1x8")  # the second pool has no GPU type
    s = res.summary
    span = _span_h(res.jobs)
    assert s.cost is None
    assert s.unpriced_gpu_hours == pytest.approx(8 * span)
    assert s.gpu_hours_by_type is not None and set(s.gpu_hours_by_type) == {"H100", "GPU"}


def test_pool_scaler_cost_follows_the_nodes_held() -> None:
    rows = [(f"j{i}", 1800 * i, 8, 7200, "A100") for i in range(10)]
    jobs, nodes = jobs_frame(rows), parse_spec("6x8:A100")
    res = simulate(jobs, nodes, SimConfig(scheduler="fifo", pool="cluster-autoscaler", provision_delay_s=300))
    s = res.summary
    assert s.pool is not None and s.pool.nodes_removed > 0  # the pool did shrink: held < up for the span
    assert s.gpu_hours_by_type == pytest.approx({"A100": s.gpu_hours})
    assert s.gpu_hours < 48 * _span_h(res.jobs)
    assert s.cost == pytest.approx(s.gpu_hours * (default_prices().rate("A100") or 0))


def test_group_cost_prices_the_hours_its_jobs_ran_on_each_type() -> None:
    rows = [("a1", 0, 8, 3600, "H100"), ("a2", 0, 8, 3600, "V100"), ("b1", 0, 4, 7200, "V100")]
    jobs = jobs_frame(rows).with_columns(pl.Series("group", ["a", "a", "b"]))
    res = simulate(jobs, parse_spec("1x8:H100,2x8:V100"), SimConfig(scheduler="fifo", speeds="spec"))
    by = {g.group: g for g in res.summary.groups or []}
    p = default_prices()
    # spec speeds: an H100 runs V100 work 5x faster, so a1 holds its 8 H100 for 3600/5 s
    assert by["a"].gpu_hours_ran_by_type == pytest.approx({"H100": 8 * 3600 / 5 / 3600, "V100": 8.0})
    assert by["a"].cost_ran == pytest.approx(8 / 5 * (p.rate("H100") or 0) + 8 * (p.rate("V100") or 0))
    assert by["b"].cost_ran == pytest.approx(4 * 2 * (p.rate("V100") or 0))
