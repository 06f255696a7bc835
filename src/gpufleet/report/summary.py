"""The report's executive summary: what each run is called, and the recommendations a planner takes upstairs,
each with its dollar impact per month and the section that holds its evidence.

Dollars: a summary that carries its own $ figure is read as written; otherwise $ = GPU-hours x the on-demand
list price of the GPU type (core/prices.py `default_prices`, or the table the caller passes), and the line says
"list prices". A GPU type without a price gives no $ figure ("unpriced"), never $0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpufleet.core.prices import HOURS_PER_MONTH, PriceTable, dollars
from gpufleet.core.units import human_seconds

if TYPE_CHECKING:
    from gpufleet.sim.summary import ServingSummary, Summary

DAYS_PER_MONTH = HOURS_PER_MONTH / 24
CAPACITY_FILE = "capacity.json"  # `gpufleet plan capacity --json > RUN/capacity.json` puts an answer in a report


@dataclass(frozen=True)
class Recommendation:
    """One line of the executive summary."""

    kind: str  # capacity, rightsizing, packing, autoscaling
    headline: str  # what to do, in words
    detail: str  # the figures behind it
    usd_month: float | None  # $ per month it saves (positive) or costs (capacity: what the addition costs)
    gpu_hours_month: float | None
    evidence: str  # the id of the report section that holds the evidence
    priced_by: str = "list prices"  # where the $ came from (the price table's name)


def run_label(raw: dict[str, Any], run: Path) -> str:
    """What a run is: scheduler + placement (+ predictor) for a training replay, the autoscaler for a serving
    replay, "demo" for a demo (not its directory's name: two identical demos make identical reports; several
    demos in one report are told apart by unique_labels), the directory's own name for anything else (never '.')."""
    if raw.get("kind") != "demo" and "scheduler" in raw:
        parts = [str(raw["scheduler"]), str(raw.get("placement", "?"))]
        if raw.get("predictor") not in (None, "none"):
            parts.append(str(raw["predictor"]))
        label = " + ".join(parts)
        return f"{raw['model']}: {label}" if raw.get("model") else label
    if "slo_attainment" in raw:
        return f"{raw.get('policy', '?')} autoscaler"
    if raw.get("kind") == "demo":
        return "demo"
    return run.resolve().name or str(run.resolve())


def unique_labels(labels: list[str], runs: list[Path]) -> list[str]:
    """Labels made unique: a label shared by several runs gets each run's directory name after it."""
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [f"{lab} [{r.resolve().name}]" if seen[lab] > 1 else lab for lab, r in zip(labels, runs, strict=True)]


def rank(recs: list[Recommendation]) -> list[Recommendation]:
    """The capacity answer first (it is the question asked), then savings by $ per month, largest first; lines
    without a $ figure last, by GPU-hours."""
    cap = [r for r in recs if r.kind == "capacity"]
    rest = [r for r in recs if r.kind != "capacity"]
    rest.sort(key=lambda r: (r.usd_month is None, -(r.usd_month or 0.0), -(r.gpu_hours_month or 0.0)))
    return cap + rest


def _usd(prices: PriceTable, gpu_type: str | None, gpu_hours: float | None) -> float | None:
    rate = prices.rate(gpu_type)
    return None if rate is None or gpu_hours is None else gpu_hours * rate


def fleet_rate(prices: PriceTable, gpus_by_type: dict[str, float]) -> float | None:
    """The fleet's mean $ per GPU-hour, weighted by GPUs (None when any type is unpriced or there is no fleet)."""
    total = sum(gpus_by_type.values())
    rates = {t: prices.rate(t) for t in gpus_by_type}
    if not total or any(r is None for r in rates.values()):
        return None
    return sum(n * (rates[t] or 0.0) for t, n in gpus_by_type.items()) / total


def rightsizing(recs: list[dict[str, Any]], prices: PriceTable) -> Recommendation | None:
    """Right-sizing: the GPU-hours the recommendations free per day, per month, priced per GPU model."""
    saving = [r for r in recs if (r.get("gpu_hours_saved_per_day") or 0) > 0]
    if not saving:
        return None
    hours = {r["workload"]: DAYS_PER_MONTH * float(r["gpu_hours_saved_per_day"]) for r in saving}
    priced = [_usd(prices, r.get("gpu_model"), hours[r["workload"]]) for r in saving]
    usd = None if any(p is None for p in priced) else sum(p or 0.0 for p in priced)
    top = max(saving, key=lambda r: r["gpu_hours_saved_per_day"])
    return Recommendation(
        kind="rightsizing",
        headline=f"Right-size {top['workload']} to {_proposed(top)} per pod"
        + (f" (and {len(saving) - 1} more workloads)" if len(saving) > 1 else ""),
        detail=f"{sum(hours.values()):,.0f} GPU-hours a month freed; largest: {top['workload']}"
        f" ({top.get('gpu_model') or 'unknown GPU'}), risk of falling short {100 * (top.get('risk') or 0):.1f}%",
        usd_month=usd,
        gpu_hours_month=sum(hours.values()),
        evidence="rightsizing",
        priced_by=prices.name,
    )


def _proposed(r: dict[str, Any]) -> str:
    if r.get("proposed_mig"):
        return str(r["proposed_mig"])
    return f"{float(r.get('proposed_gpus') or 0):g} GPU (from {float(r.get('current_gpus') or 0):g})"


def packing(sims: dict[str, Summary], prices: PriceTable, gpus_by_type: dict[str, float]) -> Recommendation | None:
    """Packing gain: the placer that strands the fewest GPUs against the one that strands the most, same
    scheduler and predictor. Stranded GPUs are free but no waiting job can use them: capacity paid for and lost
    to fragmentation, so the difference is GPUs' worth of capacity recovered."""
    by_policy: dict[tuple[str, str], list[tuple[str, Summary]]] = {}
    for label, s in sims.items():
        by_policy.setdefault((s.scheduler, s.predictor), []).append((label, s))
    pairs = []
    for group in by_policy.values():
        if len({s.placement for _, s in group}) < 2:
            continue
        lo = min((s for _, s in group), key=lambda s: s.avg_stranded_gpus)
        hi = max((s for _, s in group), key=lambda s: s.avg_stranded_gpus)
        pairs.append((hi.avg_stranded_gpus - lo.avg_stranded_gpus, lo, hi))
    if not pairs:
        return None
    gain, best, worst = max(pairs, key=lambda p: p[0])
    hours = gain * HOURS_PER_MONTH
    rate = fleet_rate(prices, gpus_by_type)
    return Recommendation(
        kind="packing",
        headline=f"Place with {best.placement} instead of {worst.placement} ({best.scheduler} scheduler)",
        detail=f"{best.avg_stranded_gpus:.2f} GPUs stranded on average instead of {worst.avg_stranded_gpus:.2f}:"
        f" {gain:.2f} GPUs of capacity recovered; p95 wait {human_seconds(best.p95_wait_s)}"
        f" instead of {human_seconds(worst.p95_wait_s)}; priced at the fleet's mean $ per GPU-hour",
        usd_month=None if rate is None else hours * rate,
        gpu_hours_month=hours,
        evidence="policy-comparison",
        priced_by=prices.name,
    )


def autoscaling(serving: dict[str, ServingSummary], prices: PriceTable) -> Recommendation | None:
    """Autoscaling: GPU-hours the best non-oracle autoscaler saves against target-tracking per month, counted
    only when its SLO attainment is within half a point of target-tracking's."""
    base = next((s for s in serving.values() if s.policy == "target-tracking"), None)
    if base is None:
        return None
    fair = [
        s
        for s in serving.values()
        if s.policy not in ("target-tracking", "oracle") and s.slo_attainment >= base.slo_attainment - 0.005
    ]
    if not fair:
        return None
    best = min(fair, key=lambda s: s.gpu_hours)
    saved = base.gpu_hours - best.gpu_hours
    if saved <= 0 or best.duration_h <= 0:
        return None
    hours = saved / best.duration_h * HOURS_PER_MONTH
    return Recommendation(
        kind="autoscaling",
        headline=f"Autoscale serving with {best.policy} instead of target-tracking",
        detail=f"{best.gpu_hours:,.1f} GPU-hours instead of {base.gpu_hours:,.1f} over {best.duration_h:.0f} h"
        f" ({best.gpu_type}); SLO {best.slo} met by {100 * best.slo_attainment:.1f}% of requests"
        f" vs {100 * base.slo_attainment:.1f}%",
        usd_month=_usd(prices, best.gpu_type, hours),
        gpu_hours_month=hours,
        evidence="serving",
        priced_by=prices.name,
    )


def capacity(runs: list[Path]) -> Recommendation | None:
    """The capacity answer a run directory holds (`capacity.json`, the `gpufleet plan capacity --json` output)."""
    for r in runs:
        f = r / CAPACITY_FILE
        if not f.is_file():
            continue
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            from gpufleet.core.errors import GpufleetError

            why = "not a JSON capacity answer (write it with gpufleet plan capacity --json)"
            raise GpufleetError(f"{f}: {why}") from None
        usd = _first(d, "usd_per_month", "dollars_per_month", "cost_per_month_usd", "monthly_usd")
        return Recommendation(
            kind="capacity",
            headline=str(d.get("answer") or d.get("recommendation") or "capacity answer"),
            detail=str(d.get("target_met") or d.get("target") or ""),
            usd_month=None if usd is None else float(usd),
            gpu_hours_month=None,
            evidence="capacity",
            priced_by=str(d.get("prices") or "its price table"),
        )
    return None


def _first(d: dict[str, Any], *keys: str) -> Any:
    return next((d[k] for k in keys if d.get(k) is not None), None)


def summary_html(recs: list[Recommendation], esc: Any) -> str:
    """The executive summary block: one numbered line per recommendation, $ first, with a link to its evidence."""
    if not recs:
        return (
            "<section id='executive-summary'><h2>Executive summary</h2><p class='note'>No recommendation in"
            " these runs (a demo directory, a compare grid with two placers, or serving replays with"
            " target-tracking bring them).</p></section>"
        )
    tables = sorted({r.priced_by for r in recs})
    items = []
    for r in recs:
        verb = "costs" if r.kind == "capacity" else "saves"
        money = (
            f"<span class='usd'>{esc(dollars(r.usd_month))}</span>/month"
            if r.usd_month is not None
            else "<span class='unpriced'>no $ figure (target not met, or a GPU type without a price)</span>"
        )
        hours = "" if r.gpu_hours_month is None else f" ({r.gpu_hours_month:,.0f} GPU-hours/month)"
        own = f"; $ at {esc(r.priced_by)}" if len(tables) > 1 else ""
        items.append(
            f"<li><b>{esc(r.headline)}</b> — {verb} {money}{hours}<br><span class='note'>{esc(r.detail)}{own}."
            f" <a href='#{r.evidence}'>Evidence</a></span></li>"
        )
    where = f" Dollars at {esc(tables[0])}." if len(tables) == 1 else ""
    return (
        "<section id='executive-summary'><h2>Executive summary</h2>"
        f"<ol class='recs'>{''.join(items)}</ol><p class='note'>Per month = 730 hours.{where}</p></section>"
    )
