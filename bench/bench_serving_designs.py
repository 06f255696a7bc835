"""Fleet designs for many models (#25 point 2): the three-week genai replay (26,823 requests, 86 base models) under
per-model fleets, one shared pool and a hybrid, each pool autoscaled by target-tracking: GPU-hours, latency,
switches and SLO attainment over the whole trace and over the held-back last third, and each design's wall time.

The hot models and the SLO come from the first two thirds (the selection window); docs/serving.md says how.
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_serving_designs.py [--policy kpa] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> int:
    """Replay every design, print a table per scoring window."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="target-tracking")
    ap.add_argument("--json", action="store_true")
    args, _ = ap.parse_known_args()
    data = os.environ.get("GPUFLEET_DATA")
    if not data:
        print("GPUFLEET_DATA is not set: the fleet-design benchmark needs genai:requests; skipped")
        return 0
    from gpufleet.plan.references import load_requests
    from gpufleet.plan.serving_designs import compare_designs, load_switch_costs
    from gpufleet.sim.serving import ServingConfig

    frame = load_requests("genai:requests", data)
    costs = load_switch_costs(data)
    cfg = ServingConfig(policy=args.policy, profile="sd-a10")
    rep = compare_designs(frame, costs, designs=["per-model", "shared", "hybrid"], cfg=cfg)
    if args.json:
        print(json.dumps(rep.as_dict(), indent=1))
        return 0
    print(f"genai:requests, {frame.height:,} requests; SLO {rep.slo}: {rep.slo_why}")
    print(f"hot models (first {rep.selection_until_s / 86400:.1f} days, {rep.hot_share:.0%}): {', '.join(rep.hot)}")
    for k, window in ((0, "whole trace"), (1, f"held back (after day {rep.selection_until_s / 86400:.1f})")):
        print(f"\n{window}, autoscaler {rep.policy}")
        print(
            f"{'design':10} {'pools':>5} {'GPU-h':>8} {'e2e p50':>8} {'e2e p99':>8} {'wait p99':>8} {'SLO att':>8}"
            f" {'swaps':>7} {'LoRA':>6} {'CNet':>6} {'switch h':>8} {'peak':>5} {'wall s':>7}"
        )
        for name, rs in rep.results.items():
            r = rs[k]
            print(
                f"{name:10} {len(r.pools):5} {r.gpu_hours:8.1f} {r.e2e_p50_s:8.1f} {r.e2e_p99_s:8.1f}"
                f" {r.wait_p99_s:8.1f} {r.slo_attainment:8.2%} {r.swaps:7,} {r.lora_loads:6,}"
                f" {r.controlnet_loads:6,} {r.switch_hours:8.1f} {r.peak_replicas:5} {rep.wall_s[name]:7.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
