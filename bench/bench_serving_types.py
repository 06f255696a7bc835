"""Heterogeneous serving (#25 point 3): the three-week genai replay (26,823 Stable Diffusion requests, one shared
pool swapping base models) on each GPU type alone and on a mix where the autoscaler adds the cheapest throughput,
target-tracking, SLO e2e_p99<=150 (chosen from the first two thirds of the trace). Twice: with no quota, and with
A10s capped at 8 replicas (a scarce cheap type: the case a mix is for). Speeds: the sd-a10 profile's published
figures (docs/serving.md); prices: the built-in list prices. The same figures as
`gpufleet serving-types --requests genai:requests --gpu-types A10[:8],L4,A100-80GB,H100`.
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_serving_types.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

SCENARIOS = ("A10,L4,A100-80GB,H100", "A10:8,L4,A100-80GB,H100")


def main() -> int:
    """Replay every fleet of every scenario, print a table each."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args, _ = ap.parse_known_args()
    data = os.environ.get("GPUFLEET_DATA")
    if not data:
        print("GPUFLEET_DATA is not set: the GPU-type benchmark needs genai:requests; skipped")
        return 0
    from gpufleet.core.prices import default_prices
    from gpufleet.plan.references import load_requests
    from gpufleet.plan.serving_designs import replay_pipelines
    from gpufleet.plan.serving_profiles import default_slo
    from gpufleet.plan.serving_types import MIXED, compare_types
    from gpufleet.sim.serving import ServingConfig

    frame = load_requests("genai:requests", data)
    prices = default_prices()
    out = {}
    for spec in SCENARIOS:
        cfg = ServingConfig(profile="diffusion", gpu_types=spec)
        cfg = cfg.model_copy(update={"slo": default_slo(frame, cfg)[0]})
        pipes, costs, _ = replay_pipelines(frame, cfg, None, data)
        began = time.perf_counter()
        rep = compare_types(frame, cfg, prices, pipes, costs)
        wall = time.perf_counter() - began
        out[spec] = rep.as_dict() | {"wall_s": wall}
        if args.json:
            continue
        print(f"\n--gpu-types {spec}; {frame.height:,} requests; SLO {rep.slo}; {rep.policy}; {rep.priced_by}")
        print(f"{'fleet':10} {'GPU-h':>8} {'$':>8} {'SLO att':>8} {'met':>4} {'e2e p50':>8} {'e2e p99':>8}"
              f" {'swaps':>7} {'peak':>5} {'wall s':>7}  GPU-h by type")  # fmt: skip
        for name, s in rep.fleets.items():
            by = ", ".join(f"{k} {v:,.0f}" for k, v in (s.gpu_hours_by_type or {}).items() if v > 0)
            print(
                f"{name:10} {s.gpu_hours:8.1f} {s.cost or 0:8,.0f} {s.slo_attainment:8.2%}"
                f" {'yes' if s.slo_met else 'no':>4} {s.e2e_p50_s:8.1f} {s.e2e_p99_s:8.1f} {s.swaps or 0:7,}"
                f" {s.max_replicas:5} {rep.wall_s[name]:7.1f}  {by}"
            )
        left = rep.fleets[MIXED].gpu_types_excluded
        if left:
            print("left out of the mix: " + "; ".join(f"{k}: {v}" for k, v in left.items()))
        print(f"cheapest single type meeting the SLO: {rep.cheapest_single()}; all fleets {wall:.1f} s")
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
