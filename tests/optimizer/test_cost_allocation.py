"""optimizer.cost on frames: shares of shared GPUs, samples without utilization or model, counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from gpufleet.core.prices import PriceTable
from gpufleet.optimizer.cost import allocate, sample_steps

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRICES = PriceTable.model_validate({"name": "t", "gpus": {"H100": 3.0}})


def samples(devices: list[tuple[str, str | None, str | None, float | None, str | None]], n: int = 2) -> pl.DataFrame:
    """(uuid, mig, pod, util, model) per device, `n` samples one hour apart, namespace ns."""
    return pl.DataFrame(
        [
            {
                "ts": T0 + timedelta(hours=k),
                "node": "n",
                "gpu_uuid": u,
                "mig_profile": m,
                "namespace": "ns" if p else None,
                "pod": p,
                "util": x,
                "gpu_model": g,
                "source": "s",
            }
            for k in range(n)
            for u, m, p, x, g in devices
        ]
    )


def test_oversubscribed_fractions_split_the_gpu_by_weight() -> None:
    jobs = pl.DataFrame({"job_id": ["ns/a", "ns/b"], "num_gpus": [0.75, 0.25 * 3]})
    f = samples([("G", None, "a", 0.9, "H100"), ("G", None, "b", 0.9, "H100")])
    a = allocate(f, PRICES, by="workload", jobs=jobs)
    r = {x["workload"]: x for x in a.rows.to_dicts()}
    # W = 1.5 > 1: each gets 0.75 / 1.5 of the GPU, and the GPU's 90% in the same proportion
    assert r["ns/a"]["allocated_gpu_h"] == pytest.approx(0.5 * 2)  # two one-hour samples
    assert r["ns/a"]["used_gpu_h"] == pytest.approx(0.45 * 2)
    assert a.idle_capacity["gpu_hours"] == pytest.approx(0.0)


def test_missing_utilization_is_counted_not_called_idle() -> None:
    a = allocate(samples([("G", None, "a", None, "H100")]), PRICES)
    r = a.rows.to_dicts()[0]
    assert r["util_unknown_gpu_h"] == pytest.approx(2.0)
    assert r["idle_gpu_h"] == 0.0 and r["used_gpu_h"] == 0.0
    assert r["cost_usd"] == pytest.approx(6.0)
    assert a.counts["samples_without_util"] == 2


def test_unreadable_mig_profile_counts_as_a_whole_gpu_and_is_counted() -> None:
    a = allocate(samples([("G", "weird", "a", 0.5, "H100"), ("H", "2g.20gb", "b", 0.5, "A30")]), PRICES)
    assert a.counts["samples_unreadable_mig_profile"] == 2
    r = {x["namespace"]: x for x in a.rows.to_dicts()}
    # an A30's MIG has 4 slices: 2g is half of it; A30 is not in this price table: unpriced, not $0
    assert r["ns"]["allocated_gpu_h"] == pytest.approx(2 * 1.0 + 2 * 0.5)
    assert r["ns"]["unpriced_gpu_h"] == pytest.approx(1.0)


def test_work_on_a_gpu_without_pod_is_reported() -> None:
    a = allocate(samples([("G", None, None, 0.4, "H100")]), PRICES)
    assert a.rows.height == 0
    assert a.idle_capacity["gpu_hours"] == pytest.approx(2.0)
    assert a.idle_capacity["busy_gpu_h_without_pod"] == pytest.approx(0.8)
    assert a.total["usd"] == pytest.approx(6.0)


def test_sample_interval_is_the_median_gap_per_source() -> None:
    f = samples([("G", None, "a", 0.5, "H100")], n=4)
    # a one-day outage between two samples does not make them stand for a day each
    f = pl.concat([f, f.tail(1).with_columns(pl.col("ts") + timedelta(days=1))])
    assert sample_steps(f) == {"s": 3600.0}
    assert sample_steps(f.head(1)) == {"s": 30.0}


def test_bad_group_is_refused() -> None:
    with pytest.raises(ValueError, match="by must be one of"):
        allocate(samples([]), PRICES, by="pod")  # type: ignore[arg-type]


def test_pod_samples_without_gpu_ids_are_a_device_each() -> None:
    # traces that record per pod (no GPU uuid or index): two pods on one node are two GPUs, not one shared
    f = samples([(None, None, "a", 0.5, "H100"), (None, None, "b", 0.5, "H100")])  # type: ignore[list-item]
    r = {x["workload"]: x for x in allocate(f, PRICES, by="workload").rows.to_dicts()}
    assert r["ns/a"]["allocated_gpu_h"] == pytest.approx(2.0)
    assert r["ns/b"]["allocated_gpu_h"] == pytest.approx(2.0)
