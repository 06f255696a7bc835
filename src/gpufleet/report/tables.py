"""HTML tables of the report: plain rows, money cells, and the per-group tables (one per group kind)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from gpufleet.core.prices import dollars
from gpufleet.core.units import human_seconds
from gpufleet.report.groups import group_row

if TYPE_CHECKING:
    from gpufleet.sim.summary import Summary


def cell(col: str, v: Any) -> str:
    """One cell: a column whose name holds '$' is money (the one currency formatter), floats are grouped."""
    if "$" in col and (v is None or isinstance(v, int | float)):
        return f"<span class='usd'>{html.escape(dollars(v))}</span>" if v is not None else "-"
    if isinstance(v, float):
        if v != v:  # NaN: no value
            return "-"
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return html.escape("-" if v is None else str(v))


def table(rows: list[dict[str, Any]]) -> str:
    """An HTML table of dict rows, columns in the first row's order."""
    if not rows:
        return "<p class='note'>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{cell(c, r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def kind_of(s: Summary) -> str:
    """The group kind of a run: what its groups are (teams/VCs or queues) under which tenancy model."""
    model = s.model or ("quota" if s.quota is not None else "pooled")
    what = "queues" if s.groups_by == "queue" else "teams"
    return f"{what}, {model}"


def group_tables(runs: list[tuple[str, Summary]]) -> str:
    """One table per group kind: a kind with one run shows that run's full per-group rows; a kind shared by
    several runs (the demo replays the same teams under every policy) shows each group once, with its p95
    wait under every run side by side, instead of a copy of the table per run."""
    kinds: dict[str, list[tuple[str, Summary]]] = {}
    for label, s in runs:
        kinds.setdefault(kind_of(s), []).append((label, s))
    out = []
    for k, members in kinds.items():
        if len(members) == 1:
            label, s = members[0]
            q = s.quota
            extra = ""
            if q is not None:
                extra = (
                    f" — {q.reclaim_preemptions:,} jobs preempted to give lent quota back;"
                    f" {q.jobs_without_queue:,} jobs without a queue, {q.jobs_over_quota:,} larger than any quota"
                )
            rows = [group_row(g, q is not None) for g in s.groups or []]
            out.append(f"<h3>{html.escape(k)}: {html.escape(label)}{html.escape(extra)}</h3>" + table(rows))
            continue
        names = sorted({str(g.group) for _, s in members for g in s.groups or []})
        per = {label: {str(g.group): g for g in s.groups or []} for label, s in members}
        rows = []
        for name in names:
            first = next(per[label][name] for label, _ in members if name in per[label])
            row: dict[str, Any] = {"group": name, "jobs": first.jobs, "GPU-h work": first.gpu_hours_used}
            for label, _ in members:
                g = per[label].get(name)
                row[f"p95 wait: {label}"] = human_seconds(None if g is None else g.p95_wait_s)
            rows.append(row)
        out.append(
            f"<h3>{html.escape(k)}: p95 wait per group under {len(members)} runs</h3>"
            f"<div class='wide'>{table(rows)}</div>"
        )
    return "".join(out)
