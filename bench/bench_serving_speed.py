"""Serving replay speed (#25 point 7): the three-week genai replay (26,823 Stable Diffusion requests) under the four
autoscalers, one after another on one core: wall time per policy and what each replay gives.

Profile sd-a10 (the diffusion work model on an A10, service times fitted on genai:requests and drawn with seed 0);
SLO e2e_p99<=150, the one `gpufleet serving-designs` chooses from the first two thirds of the trace
(docs/serving.md). Twice: every replica serving every model without loading, then one shared pool whose replicas
swap base models (what `compare-autoscalers --profile diffusion` replays by default).
Before #25 the same replay took 20 s under target-tracking and 502 s under kpa (docs/results.md).
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_serving_speed.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

POLICIES = ("target-tracking", "kpa", "predictive", "oracle")
SLO = "e2e_p99<=150"


def main() -> int:
    """Replay, time, print."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args, _ = ap.parse_known_args()
    data = os.environ.get("GPUFLEET_DATA")
    if not data:
        print("GPUFLEET_DATA is not set: the serving speed benchmark needs genai:requests; skipped")
        return 0
    from gpufleet.plan.references import load_requests
    from gpufleet.plan.serving_designs import load_switch_costs, shared_pool
    from gpufleet.sim.serving import ServingConfig, simulate_serving

    frame = load_requests("genai:requests", data)
    costs = load_switch_costs(data)
    pipes = shared_pool(frame, ServingConfig(profile="sd-a10", slo=SLO), costs)
    rows = []
    totals = {}
    for swaps in (False, True):
        began = time.perf_counter()
        for policy in POLICIES:
            t = time.perf_counter()
            cfg = ServingConfig(policy=policy, profile="sd-a10", slo=SLO)
            kw = {"pipelines": pipes, "switch_costs": costs} if swaps else {}
            s = simulate_serving(frame, cfg, **kw).summary  # type: ignore[arg-type]
            rows.append(_row(policy, swaps, time.perf_counter() - t, s))
        totals["swaps" if swaps else "no_swaps"] = time.perf_counter() - began
    if args.json:
        print(json.dumps({"requests": frame.height, "slo": SLO, "total_wall_s": totals, "policies": rows}, indent=1))
        return 0
    print(f"genai:requests, {frame.height:,} requests over three weeks, sd-a10 (diffusion), SLO {SLO}")
    head = ("policy", "loads", "wall s", "events", "skipped", "GPU-h", "SLO att", "e2e p50", "e2e p99", "swaps")
    widths = (5, 7, 9, 9, 9, 8, 8, 8, 7)
    print(f"{head[0]:16} " + " ".join(f"{h:>{w}}" for h, w in zip(head[1:], widths, strict=True)))
    for r in rows:
        print(
            f"{r['policy']:16} {'yes' if r['swaps_modelled'] else 'no':>5} {r['wall_s']:7.1f} {r['events']:9,}"
            f" {r['decisions_skipped']:9,} {r['gpu_hours']:9.1f} {r['slo_attainment']:8.2%} {r['e2e_p50_s']:8.1f}"
            f" {r['e2e_p99_s']:8.1f} {r['swaps'] if r['swaps'] is not None else '-':>7}"
        )
    print(f"four policies: {totals['no_swaps']:.1f} s without swaps, {totals['swaps']:.1f} s with")
    return 0


def _row(policy: str, swaps: bool, wall_s: float, s: Any) -> dict[str, Any]:
    return {
        "policy": policy,
        "swaps_modelled": swaps,
        "wall_s": wall_s,
        "events": s.events,
        "decisions_skipped": s.decisions_skipped,
        "gpu_hours": s.gpu_hours,
        "slo_attainment": s.slo_attainment,
        "e2e_p50_s": s.e2e_p50_s,
        "e2e_p99_s": s.e2e_p99_s,
        "max_replicas": s.max_replicas,
        "swaps": s.swaps,
    }


if __name__ == "__main__":
    sys.exit(main())
