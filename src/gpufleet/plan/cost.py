"""Cost allocation from a collector store: what `gpufleet cost` and the dashboard's Cost page call. Reads the
window's GPU_SAMPLES, NODES (pools), JOBS (fractional requests, teams) and the vLLM token series, prices them
with the price table and allocates (optimizer.cost; definitions in docs/cost.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import PriceTable, load_prices
from gpufleet.optimizer.cost import BY, Allocation, By, allocate
from gpufleet.optimizer.cost.tokens import QUANTITIES


@dataclass(frozen=True)
class CostAnswer:
    """An allocation with what it was computed from: the store, the window seen and the price table."""

    allocation: Allocation
    prices: PriceTable
    store: Path
    first: datetime | None
    last: datetime | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, with the window and the price table's name."""
        return {
            "store": str(self.store),
            "first_sample": self.first.isoformat() if self.first else None,
            "last_sample": self.last.isoformat() if self.last else None,
            "priced_by": self.prices.name,
            "currency": self.prices.currency,
            **self.allocation.to_dict(),
        }


def _window(lf: pl.LazyFrame, col: str, since: datetime | None, until: datetime | None) -> pl.LazyFrame:
    if since is not None:
        lf = lf.filter(pl.col(col) >= since)
    if until is not None:
        lf = lf.filter(pl.col(col) < until)
    return lf


def cost_from_store(
    store: Path,
    *,
    by: str = "namespace",
    prices: Path | PriceTable | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    tier: str = "on_demand",
    step_s: float | None = None,
) -> CostAnswer:
    """Allocate the GPU-hours and dollars of the store's samples in [since, until) to groups (`by`)."""
    from gpufleet.collector.store import Store, is_store

    if by not in BY:
        raise GpufleetError(f"--by {by}: not one of {', '.join(BY)}")
    if not is_store(store):
        what = "does not exist" if not store.exists() else "is not a collector store (no tables in it)"
        raise GpufleetError(f"--store {store}: {what}; build one with `gpufleet collect prometheus --store {store}`")
    table = prices if isinstance(prices, PriceTable) else load_prices(prices)
    db = Store(store)
    samples = _window(db.scan("GPU_SAMPLES"), "ts", since, until).collect()
    tokens = list(QUANTITIES)
    vllm = (
        _window(db.scan("SERIES"), "ds", since, until)
        .filter(pl.col("unique_id").str.extract(r":([^:]*)$", 1).is_in(tokens))
        .collect()
    )
    alloc = allocate(
        samples,
        table,
        by=cast(By, by),
        nodes=db.read("NODES"),
        jobs=db.read("JOBS"),
        vllm=vllm,
        tier=tier,
        step_s=step_s,
    )
    first = samples["ts"].min() if samples.height else None
    last = samples["ts"].max() if samples.height else None
    return CostAnswer(alloc, table, store, first, last)  # type: ignore[arg-type]
