"""Cost allocation from a collector store: what `gpufleet cost` and the dashboard's Cost page call. Reads the
window's GPU_SAMPLES, NODES (pools), JOBS (fractional requests, teams) and the vLLM token series, prices them
with the price table and allocates (optimizer.cost; definitions in docs/cost.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.core.prices import TIERS, PriceTable, dollars, load_prices
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


def _when(text: datetime | str | None, option: str, newest: datetime | None) -> datetime | None:
    """An option's time: a datetime as given, text as an ISO time or a duration back from `newest`."""
    if text is None or isinstance(text, datetime):
        return text
    from gpufleet.collector.prometheus import parse_since

    try:
        return parse_since(text, newest or datetime.now(UTC))
    except GpufleetError:
        raise GpufleetError(f"{option} {text!r}: give a duration (30m, 6h, 2d) or an ISO time") from None


def cost_from_store(
    store: Path,
    *,
    by: str = "namespace",
    prices: Path | PriceTable | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    tier: str = "on_demand",
    step_s: float | None = None,
) -> CostAnswer:
    """Allocate the GPU-hours and dollars of the store's samples in [since, until) to groups (`by`). A text
    `since`/`until` is an ISO time or a duration (6h, 2d) back from the store's newest sample."""
    from gpufleet.collector.store import Store, is_store

    if by not in BY:
        raise GpufleetError(f"--by {by}: not one of {', '.join(BY)}")
    if not is_store(store):
        what = "does not exist" if not store.exists() else "is not a collector store (no tables in it)"
        raise GpufleetError(f"--store {store}: {what}; build one with `gpufleet collect prometheus --store {store}`")
    if tier not in TIERS:
        raise GpufleetError(f"--tier {tier}: not one of {', '.join(TIERS)}")
    table = prices if isinstance(prices, PriceTable) else load_prices(prices)
    db = Store(store)
    if isinstance(since, str) or isinstance(until, str):
        newest = db.scan("GPU_SAMPLES").select(pl.col("ts").max()).collect().item()
        since = _when(since, "--since", newest)
        until = _when(until, "--until", newest)
        if since is not None and until is not None and until <= since:
            raise GpufleetError(f"--until {until.isoformat()} is not after --since {since.isoformat()}")
    samples = _window(db.scan("GPU_SAMPLES"), "ts", since, until).collect()
    if samples.height == 0:
        held = db.scan("GPU_SAMPLES").select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).collect()
        a, b = held.row(0)
        holds = f"it holds {a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M} UTC" if a is not None else "it holds none"
        window = f" in [{since or '-'}, {until or '-'})" if since or until else ""
        raise GpufleetError(f"--store {store}: no GPU samples{window}; {holds}")
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


def cost_from_frames(
    samples: pl.DataFrame,
    *,
    by: str = "namespace",
    prices: Path | PriceTable | None = None,
    nodes: pl.DataFrame | None = None,
    tier: str = "on_demand",
    where: str = "samples",
) -> CostAnswer:
    """The same allocation over GPU samples given as a frame (the dashboard without a store: the demo's samples
    or its embedded fleet); no JOBS or token series there."""
    if by not in BY:
        raise GpufleetError(f"--by {by}: not one of {', '.join(BY)}")
    table = prices if isinstance(prices, PriceTable) else load_prices(prices)
    alloc = allocate(samples, table, by=cast(By, by), nodes=nodes, tier=tier)
    first = samples["ts"].min() if samples.height else None
    last = samples["ts"].max() if samples.height else None
    return CostAnswer(alloc, table, Path(where), first, last)  # type: ignore[arg-type]


def _h(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def table_rows(answer: CostAnswer) -> list[dict[str, str]]:
    """The allocation as people read it (the CLI's table and the Cost page): one row per group, then the idle
    (allocated, unused), idle capacity (no pod) and total lines; $ by core.prices.dollars."""
    a = answer.allocation
    out = []
    for r in a.rows.to_dicts():
        alloc = r["allocated_gpu_h"]
        out.append(
            {
                a.by: str(r[a.by]),
                "GPU-h allocated": _h(alloc),
                "GPU-h used": _h(r["used_gpu_h"]),
                "used %": f"{100 * r['used_gpu_h'] / alloc:.0f}%" if alloc else "-",
                "GPU-h idle": _h(r["idle_gpu_h"]),
                "cost": dollars(r["cost_usd"]),
                "idle cost": dollars(r["idle_usd"]),
                "unpriced GPU-h": _h(r["unpriced_gpu_h"]) if r["unpriced_gpu_h"] else "",
                "$ / 1M tokens": dollars(r["usd_per_1m_tokens"]) if r["usd_per_1m_tokens"] is not None else "",
            }
        )
    blank = {k: "" for k in (out[0] if out else _empty_row(a.by))}
    idle, cap, tot = a.idle, a.idle_capacity, a.total
    out.append(blank | {a.by: IDLE_LINE, "GPU-h idle": _h(idle["gpu_hours"]), "idle cost": dollars(idle["usd"])})
    out.append(
        blank
        | {
            a.by: CAPACITY_LINE,
            "GPU-h idle": _h(cap["gpu_hours"]),
            "cost": dollars(cap["usd"]),  # nobody's, but paid for: part of the total
            "idle cost": dollars(cap["usd"]),
            "unpriced GPU-h": _h(cap["unpriced_gpu_h"]) if cap["unpriced_gpu_h"] else "",
        }
    )
    out.append(
        blank
        | {
            a.by: TOTAL_LINE,
            "GPU-h allocated": _h(_total(a.rows, "allocated_gpu_h")),
            "GPU-h used": _h(_total(a.rows, "used_gpu_h")),
            "GPU-h idle": _h((idle["gpu_hours"] or 0) + (cap["gpu_hours"] or 0)),
            "cost": dollars(tot["usd"]),
            "idle cost": dollars(
                None if idle["usd"] is None and cap["usd"] is None else (idle["usd"] or 0) + (cap["usd"] or 0)
            ),
            "unpriced GPU-h": _h(tot["unpriced_gpu_h"]) if tot["unpriced_gpu_h"] else "",
        }
    )
    return out


IDLE_LINE = "idle (allocated, unused)"
CAPACITY_LINE = "idle capacity (no pod)"
TOTAL_LINE = "total"


def _total(frame: pl.DataFrame, col: str) -> float:
    return float(frame[col].sum()) if frame.height else 0.0


def _empty_row(by: str) -> list[str]:
    return [
        by,
        "GPU-h allocated",
        "GPU-h used",
        "used %",
        "GPU-h idle",
        "cost",
        "idle cost",
        "unpriced GPU-h",
        "$ / 1M tokens",
    ]


def notes(answer: CostAnswer) -> list[str]:
    """What the table leaves out or assumes, one line each (nothing dropped silently)."""
    a = answer.allocation
    c = a.counts
    steps = ", ".join(f"{s or '?'} {v:g}s" for s, v in a.step_s.items())
    window = (
        f"{answer.first:%Y-%m-%d %H:%M} .. {answer.last:%Y-%m-%d %H:%M} UTC"
        if answer.first and answer.last
        else "no samples"
    )
    lines = [
        f"{int(c['samples']):,} samples, {window}; each stands for its source's sample interval ({steps or '-'})",
        f"{answer.prices.priced_by()} ({a.tier}); total {dollars(a.total['usd'])}"
        f" for {_h(a.total['gpu_hours'])} GPU-hours ({_h(_total(a.rows, 'allocated_gpu_h'))} allocated to pods,"
        f" {_h(a.idle_capacity['gpu_hours'])} idle capacity)",
    ]
    if c["samples_without_gpu_model"]:
        lines.append(f"{int(c['samples_without_gpu_model']):,} samples name no GPU model: their GPU-hours are unpriced")
    if a.total["unpriced_gpu_h"]:
        lines.append(
            f"{_h(a.total['unpriced_gpu_h'])} GPU-hours unpriced (no price for their GPU type, pool or tier):"
            " in no $ figure"
        )
    if c["samples_without_util"]:
        lines.append(
            f"{int(c['samples_without_util']):,} samples without utilization: allocated, neither used nor idle"
        )
    if c["samples_unreadable_mig_profile"]:
        lines.append(
            f"{int(c['samples_unreadable_mig_profile']):,} samples with an unreadable MIG profile:"
            " counted as whole GPUs"
        )
    if a.idle_capacity["busy_gpu_h_without_pod"]:
        lines.append(
            f"{_h(a.idle_capacity['busy_gpu_h_without_pod'])} GPU-hours of work on GPUs no pod held"
            " (outside Kubernetes?)"
        )
    if c["tokens_unmatched"]:
        lines.append(f"{c['tokens_unmatched']:,.0f} vLLM tokens matched no {a.by} with GPU-hours in the window")
    return lines
