"""`gpufleet cost`: GPU-hours and dollars per namespace, team or workload from a collector store, with the
idle cost and the fleet's idle capacity as lines of their own (plan.cost; definitions in docs/cost.md)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer

from gpufleet.commands.common import JsonOpt, emit_json, handles_errors, out


@handles_errors
def cost_cmd(
    store: Annotated[Path, typer.Option(help="Collector store directory (`gpufleet collect prometheus --store`).")],
    by: Annotated[str, typer.Option(help="Group by namespace, team (JOBS group, else namespace) or workload.")] = (
        "namespace"
    ),
    prices: Annotated[
        Path | None, typer.Option(help="prices.yaml (or CSV) merged over the built-in price table (docs/cost.md).")
    ] = None,
    tier: Annotated[str, typer.Option(help="Price tier: on_demand, reserved or spot.")] = "on_demand",
    since: Annotated[
        str | None, typer.Option(help="Start: an ISO time, or a duration (24h, 7d) back from the newest sample.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End (exclusive): an ISO time or a duration back.")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print one CSV row per group (numbers, not text).")] = False,
) -> None:
    """Allocated vs used GPU-hours and $ per group, idle cost, idle capacity and $ per 1M vLLM tokens."""
    from gpufleet.plan.cost import cost_from_store, notes, table_rows
    from gpufleet.report.console import metrics_table

    answer = cost_from_store(store, by=by, prices=prices, since=since, until=until, tier=tier)
    if as_json:
        emit_json(answer.to_dict())
        return
    if as_csv:
        rows = answer.allocation.rows.to_dicts()
        w = csv.DictWriter(sys.stdout, fieldnames=list(answer.allocation.rows.columns))
        w.writeheader()
        w.writerows(rows)
        return
    out.print(metrics_table(f"GPU cost by {by}, {store}", table_rows(answer)))
    for line in notes(answer):
        out.print(line)
