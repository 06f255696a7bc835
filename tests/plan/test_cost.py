"""Cost allocation from a store built with the collector's Store API, against figures worked out by hand
(gpufleet.testing.coststore says what the store holds; H100 $4, A100 $2 per GPU-hour; 1 h of samples)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.plan.cost import cost_from_store
from gpufleet.testing.coststore import T0, build_cost_store, write_prices


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cost_store(tmp_path_factory.mktemp("cost") / "store")


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_prices(tmp_path_factory.mktemp("prices") / "prices.yaml")


def rows(answer, key: str) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    return {r[key]: r for r in answer.allocation.rows.to_dicts()}


def test_by_namespace_matches_the_hand_computation(store: Path, prices: Path) -> None:
    a = cost_from_store(store, by="namespace", prices=prices)
    r = rows(a, "namespace")
    # team-a: a whole GPU at 50% (1 h, 0.5 used), a quarter GPU (JOBS asks 0.25) at 20% of the whole GPU
    # (0.25 h, 0.2 used), and 1 h on a GPU of unknown model at 100% (unpriced)
    assert r["team-a"]["allocated_gpu_h"] == pytest.approx(2.25)
    assert r["team-a"]["used_gpu_h"] == pytest.approx(1.7)
    assert r["team-a"]["idle_gpu_h"] == pytest.approx(0.55)
    assert r["team-a"]["unpriced_gpu_h"] == pytest.approx(1.0)
    assert r["team-a"]["cost_usd"] == pytest.approx(1.25 * 4)
    assert r["team-a"]["idle_usd"] == pytest.approx((0.5 + 0.05) * 4)
    # team-b: a 3g.40gb MIG slice (3/7 GPU) at 80%, and two time-sliced pods splitting a GPU at 60%
    assert r["team-b"]["allocated_gpu_h"] == pytest.approx(3 / 7 + 1)
    assert r["team-b"]["used_gpu_h"] == pytest.approx(0.8 * 3 / 7 + 0.6)
    assert r["team-b"]["cost_usd"] == pytest.approx((3 / 7 + 1) * 4)
    # llm: a whole A100 at 90%, serving 100 + 50 tokens/s for an hour = 540,000 tokens
    assert r["llm"]["allocated_gpu_h"] == pytest.approx(1.0)
    assert r["llm"]["cost_usd"] == pytest.approx(2.0)
    assert r["llm"]["tokens_m"] == pytest.approx(0.54)
    assert r["llm"]["usd_per_1m_tokens"] == pytest.approx(2.0 / 0.54)
    assert r["llm"]["usd_per_1m_output_tokens"] == pytest.approx(2.0 / 0.18)
    assert r["team-a"]["usd_per_1m_tokens"] is None
    # idle capacity (no pod): the 4g.40gb slice, the 3/4 of the fractional GPU nobody asked for, the idle GPU
    cap = a.allocation.idle_capacity
    assert cap["gpu_hours"] == pytest.approx(4 / 7 + 0.75 + 1)
    assert cap["usd"] == pytest.approx((4 / 7 + 0.75 + 1) * 4)
    # the idle line: allocated but unused, over every group
    assert a.allocation.idle["gpu_hours"] == pytest.approx(0.55 + (3 / 7 - 0.8 * 3 / 7 + 0.4) + 0.1)
    # 7 physical GPUs for an hour: everything sampled is somebody's or idle capacity, nothing lost
    assert a.allocation.total["gpu_hours"] == pytest.approx(7.0)
    assert a.allocation.total["unpriced_gpu_h"] == pytest.approx(1.0)
    assert a.allocation.counts["samples_without_gpu_model"] == 4
    assert a.allocation.step_s == {"dcgm": 900.0}
    assert a.prices.name == "test prices"


def test_by_team_takes_jobs_group_else_the_namespace(store: Path, prices: Path) -> None:
    r = rows(cost_from_store(store, by="team", prices=prices), "team")
    assert r["research"]["allocated_gpu_h"] == pytest.approx(0.5)  # ts-b-1's JOBS group
    assert r["team-b"]["allocated_gpu_h"] == pytest.approx(3 / 7 + 0.5)
    assert r["llm"]["tokens_m"] == pytest.approx(0.54)  # the namespace has one team: the tokens follow it


def test_by_workload_names_pods_without_generated_suffixes(store: Path, prices: Path) -> None:
    r = rows(cost_from_store(store, by="workload", prices=prices), "workload")
    assert set(r) == {"team-a/train-a", "team-a/nb-a", "team-b/infer-b", "team-b/ts-b", "llm/vllm-code"}
    assert r["team-b/infer-b"]["allocated_gpu_h"] == pytest.approx(3 / 7)
    assert r["team-a/nb-a"]["allocated_gpu_h"] == pytest.approx(0.25)
    # the vLLM series is named for its model (llm/code): its namespace's only GPU workload takes the tokens
    assert r["llm/vllm-code"]["tokens_m"] == pytest.approx(0.54)


def test_window_and_tiers(store: Path, prices: Path) -> None:
    half = cost_from_store(store, prices=prices, since=T0 + timedelta(minutes=30))
    assert rows(half, "namespace")["llm"]["allocated_gpu_h"] == pytest.approx(0.5)
    assert rows(half, "namespace")["llm"]["tokens_m"] == pytest.approx(0.27)
    spot = cost_from_store(store, prices=prices, tier="spot")  # no spot prices: everything unpriced, none $0
    assert spot.allocation.total["unpriced_gpu_h"] == pytest.approx(7.0)
    assert spot.allocation.total["usd"] is None  # shown '-', not $0.00
    assert spot.allocation.rows["cost_usd"].null_count() == spot.allocation.rows.height


def test_refuses_what_is_not_a_store(tmp_path: Path, store: Path) -> None:
    with pytest.raises(GpufleetError, match="does not exist"):
        cost_from_store(tmp_path / "nope")
    with pytest.raises(GpufleetError, match="not a collector store"):
        cost_from_store(tmp_path)
    with pytest.raises(GpufleetError, match="--by pods"):
        cost_from_store(store, by="pods")
