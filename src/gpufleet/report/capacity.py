"""Terminal rendering (rich) of a capacity answer (plan/capacity.py): the recommendation, its cost and the
evidence runs, from the answer's dict (the same one `--json` prints)."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from gpufleet.core.prices import dollars
from gpufleet.core.units import human_seconds


def _value(r: dict[str, Any]) -> str:
    v = r.get("value_s")
    if r.get("stopped_early"):
        return "over (stopped early)"
    return "never" if v is None or math.isinf(v) else human_seconds(v)


def _mix(add: dict[str, int] | None, per_node: int) -> str:
    if not add:
        return "nothing"
    return ", ".join(f"{n} x {per_node} {t} ({n * per_node:,} GPUs)" for t, n in add.items())


def capacity_tables(question: dict[str, Any], res: dict[str, Any]) -> list[Any]:
    """The answer's table, the evidence table and the lines that say how it was measured."""
    per_node = int(question["per_node"])
    metric = str(question["target"]).partition("<=")[0]
    base = question["fleet"] or "(from scratch)"
    head = Table(title=f"capacity: cheapest addition to {base} for {question['target']}", show_header=False)
    head.add_column("k", style="bold")
    head.add_column("v", overflow="fold")
    if res.get("met"):
        head.add_row("add", _mix(res["add"], per_node))
        head.add_row("fleet", res["fleet"])
        rates = ", ".join(f"{t} {dollars(r)}/GPU-h" for t, r in (res.get("usd_per_gpu_hour") or {}).items())
        head.add_row(
            "cost of the addition", f"{dollars(res['usd_per_month'])} per month" + (f" ({rates})" if rates else "")
        )
        head.add_row(metric, f"{_value(res)} (target {question['target']}: met)")
        nxt = res.get("next_cheaper")
        if nxt is not None:
            head.add_row(
                "next cheaper, missed",
                f"{nxt['fleet']}: {metric} {_value(nxt)}, {dollars(nxt['usd_per_month'])} per month",
            )
    else:
        head.add_row("answer", f"[red]no fleet found[/red]: {res['answer']}")
    u = res["unschedulable"]
    head.add_row(
        "jobs no type can run",
        f"{u['jobs']:,} of {question['job_count']:,} ({u['share']:.1%}), {u['counted_as']}",
    )
    speeds = question.get("speed_factors") or {}
    given = question["speeds"]
    head.add_row(
        "speeds",
        ("'spec' (GPU table, V100 = 1): " if given == "spec" else "given: ")
        + (", ".join(f"{t} {f:g}" for t, f in speeds.items()) or "-"),
    )
    sched, place, pred = (question[k]["name"] for k in ("scheduler", "placement", "predictor"))
    head.add_row("replayed with", f"{sched} + {place}, predictor {pred}; {res.get('replays', 0)} replays")
    g = question["growth"]
    if g.get("how") == "forecast":
        head.add_row(
            "arrival growth",
            f"x{g['factor']:.3f} ({g['forecaster']}: {g['projected_mean_per_day']:,.0f} submissions/day projected"
            f" over {g['horizon_days']} days vs {g['recent_mean_per_day']:,.0f} in the last {g['recent_days']})",
        )
    else:
        head.add_row("arrival growth", f"x{g['factor']:g}")
    head.add_row("prices", question["prices"])
    ev = Table(title="evidence: every fleet replayed")
    for col in ("phase", "fleet", "$ per month", metric, "met", "unfinished", "unschedulable"):
        ev.add_column(col, overflow="fold")
    for r in res.get("probes", []):
        ev.add_row(
            r["phase"],
            r["fleet"],
            dollars(r["usd_per_month"]),
            _value(r),
            "yes" if r["met"] else "no",
            "-" if r["unfinished"] is None else f"{r['unfinished']:,}",
            "-" if r["unschedulable"] is None else f"{r['unschedulable']:,}",
            style="bold green" if res.get("met") and r["add"] == res["add"] else None,
        )
    return [head, ev]
