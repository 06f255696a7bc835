"""Dollars for the answers that are not replays: right-sizing savings and packing gains, priced by core.prices.

A month is HOURS_PER_MONTH (730) hours. A figure on a GPU type without a price is None (printed '-'), never $0.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from gpufleet.core.prices import HOURS_PER_MONTH, PriceTable


def price_rightsizing(rows: list[dict[str, Any]], prices: PriceTable) -> dict[str, Any]:
    """Add `dollars_saved_per_month` to each recommendation (its GPU-hours saved per day x 730/24 x its GPU
    model's price) and return the totals: $ saved per month over the priced ones, GPU-hours per day of savings
    on unpriced models, and which table priced them."""
    total, unpriced = 0.0, 0.0
    for r in rows:
        per_day = r.get("gpu_hours_saved_per_day")
        rate = prices.rate(r.get("gpu_model"))
        r["dollars_saved_per_month"] = (
            None if per_day is None or rate is None else per_day * HOURS_PER_MONTH / 24 * rate
        )
        if per_day and r.get("opinion"):
            if rate is None:
                unpriced += per_day
            else:
                total += r["dollars_saved_per_month"]
    return {
        "dollars_saved_per_month": total,
        "unpriced_gpu_hours_saved_per_day": unpriced,
        "priced_by": prices.name,
    }


def fleet_rate(nodes: pl.DataFrame, prices: PriceTable) -> float | None:
    """The fleet's mean $ per GPU-hour, weighted by each node's GPUs (per node pool where the table prices
    pools); None when any node's type is unpriced."""
    types = nodes["gpu_type"].to_list() if "gpu_type" in nodes.columns else [None] * nodes.height
    pools = nodes["pool"].to_list() if "pool" in nodes.columns else [None] * nodes.height
    gpus = nodes["num_gpus"].cast(pl.Float64).to_list()
    cost, total = 0.0, 0.0
    for t, p, g in zip(types, pools, gpus, strict=True):
        if not g:
            continue
        rate = prices.rate(t, p)
        if rate is None:
            return None
        cost, total = cost + rate * g, total + g
    return cost / total if total else None


def per_month(gpus: float | None, rate: float | None) -> float | None:
    """$ per month of `gpus` GPUs at `rate` $ per GPU-hour (None without either)."""
    return None if gpus is None or rate is None else gpus * rate * HOURS_PER_MONTH


def price_packing(rows: list[dict[str, Any]], rate: float | None) -> None:
    """Add to each policy's row of a packing comparison the GPUs it leaves allocatable that the worst policy
    of the comparison strands (`gpus_freed`, at the same arrived load) and their $ per month at the fleet's
    mean price (`dollars_per_month_freed`)."""
    worst = max((r["unallocated_gpus"] for r in rows), default=0.0)
    for r in rows:
        r["gpus_freed"] = worst - r["unallocated_gpus"]
        r["dollars_per_month_freed"] = per_month(r["gpus_freed"], rate)


def reprice_runs(summaries: list[Any], prices: PriceTable | None, out: Any = None) -> list[Any]:
    """Training summaries re-priced by the user's table (as they are when None: the replays priced them at the
    built-in list prices); with `out`, each run directory `out/SCHEDULER__PLACEMENT` that a grid wrote gets
    its summary.json rewritten to match (written aside, then moved over the old one)."""
    if prices is None:
        return summaries
    from gpufleet.report.rundir import write_json

    priced = [s.priced(prices) for s in summaries]
    for s in priced if out is not None else []:
        path = out / f"{s.scheduler}__{s.placement}" / "summary.json"
        if path.exists():
            write_json(path, s.dump())  # written aside, then moved over; its wall time into timing.json
    return priced
