"""The Fleet page's GPU-hours by namespace, priced by core.prices: $ = GPU-hours x the type's price, and a
namespace on an unpriced type shows its unpriced GPU-hours and no cost (never a partial sum)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import default_prices
from gpufleet.dashboard.data import gpu_hours_by_namespace, load_prices


def test_cost_per_namespace_is_hours_times_price_and_unpriced_is_null() -> None:
    # 60 s samples: team-a holds 2 H100 for 60 samples (2 h) and 1 T4 for 30 (0.5 h); team-b 1 G2 for 60 (1 h)
    rows = (
        [{"pod": "a", "namespace": "team-a", "gpu_model": "H100", "util": 0.5}] * 120
        + [{"pod": "a2", "namespace": "team-a", "gpu_model": "T4", "util": 1.0}] * 30
        + [{"pod": "b", "namespace": "team-b", "gpu_model": "G2", "util": 0.0}] * 60
    )
    out = gpu_hours_by_namespace(pl.LazyFrame(rows), 60.0, default_prices())
    a = out.filter(pl.col("namespace") == "team-a").row(0, named=True)
    b = out.filter(pl.col("namespace") == "team-b").row(0, named=True)
    p = default_prices()
    assert a["gpu_hours"] == pytest.approx(2.5)
    assert a["cost"] == pytest.approx(2 * (p.rate("H100") or 0) + 0.5 * (p.rate("T4") or 0))
    assert a["unpriced_gpu_hours"] == 0
    assert b["cost"] is None and b["unpriced_gpu_hours"] == pytest.approx(1.0)


def test_dashboard_prices_are_core_prices(tmp_path: Path) -> None:
    assert load_prices(None).rate("H100") == default_prices().rate("H100")
    f = tmp_path / "p.yaml"
    f.write_text("H100: 1.5\n")  # the dashboard's first format still reads
    assert load_prices(f).rate("H100") == 1.5
    f.write_text("gpus:\n  H100: {on_demand: free}\n")
    with pytest.raises(GpufleetError, match=r"gpus\.H100\.on_demand"):
        load_prices(f)
