"""Packing benchmarks (issue #5): FGD's inflation experiment, its 24 openb pod lists, speed, distance to optimal.

- speed: one policy x one seed of openb:default on openb:nodes (about 8k placements, 1,523 nodes) per
  heuristic, wall seconds (goal <= 2 s each);
- main: every placer, seeds 42-51, allocation ratio at 130% load next to the figures FGD's authors ship;
- variants: the 24 openb pod lists (default + cpu/gpushare/gpuspec/multigpu mixes) x the main placers,
  seeds 42-44 (3 seeds keep `make bench` short; the main table uses 10);
- optimal: small instances (8 GPU nodes drawn from openb:nodes, pods drawn from openb:default up to 130%
  of their GPUs), each placer's one pass against the exact ILP bound (HiGHS via scipy.optimize.milp).
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_packing.py [--only speed,main,variants,optimal]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

MAIN = [
    "fgd-balance",
    "fgd",
    "best-fit",
    "gpu-packing",
    "dot-product",
    "first-fit",
    "worst-fit",
    "consolidate",
    "random",
]
VARIANT_POLICIES = ["fgd-balance", "fgd", "best-fit", "gpu-packing", "random"]


def _load(ref: str):  # type: ignore[no-untyped-def]
    from gpufleet.traces import load

    return load(ref, os.environ.get("GPUFLEET_DATA")).frame


def _run(args: tuple[str, str, str, int]) -> dict[str, object]:
    pods_ref, nodes_ref, policy, seed = args
    from gpufleet.optimizer.packing.experiment import inflation_run

    t0 = time.perf_counter()
    r = inflation_run(_load(pods_ref), _load(nodes_ref), policy, seed)
    r["wall_s"] = time.perf_counter() - t0
    r["pods"] = pods_ref
    return r


def _pool_map(jobs: list[tuple[str, str, str, int]]) -> list[dict[str, object]]:
    with mp.get_context("spawn").Pool(min(2, os.cpu_count() or 1)) as pool:
        return pool.map(_run, jobs, chunksize=1)


def speed() -> dict[str, float]:
    """Wall seconds of one policy x one seed, in this process (data loading excluded)."""
    from gpufleet.optimizer.packing import PLACERS
    from gpufleet.optimizer.packing.experiment import inflation_run

    pods, nodes = _load("openb:default"), _load("openb:nodes")
    out = {}
    for name in PLACERS.names():
        t0 = time.perf_counter()
        r = inflation_run(pods, nodes, name, 42)
        out[name] = time.perf_counter() - t0
        print(f"speed {name:12s} {out[name]:6.2f} s  ({r['placed'] + r['failed']} arrivals)", flush=True)
    return out


def main_table() -> dict[str, float]:
    """Mean allocation at 130% over seeds 42-51 per placer, with the shipped figures."""
    from gpufleet.optimizer.packing.experiment import SHIPPED_AT_130

    runs = _pool_map([("openb:default", "openb:nodes", p, s) for p in MAIN for s in range(42, 52)])
    out = {}
    for p in MAIN:
        ends = [r["ratios"][-1] * 100 for r in runs if r["policy"] == p]  # type: ignore[index]
        out[p] = sum(ends) / len(ends)
        shipped = SHIPPED_AT_130.get(p)
        ref = f"  shipped {shipped:.2f}" if shipped else ""
        print(f"main {p:12s} {out[p]:6.2f} % (min {min(ends):.2f}, max {max(ends):.2f}){ref}", flush=True)
    return out


def variants() -> dict[str, dict[str, float]]:
    """Mean allocation at 130% for each openb pod list, seeds 42-44."""
    from gpufleet.traces.openb import VARIANTS

    lists = ["default", *VARIANTS]
    runs = _pool_map(
        [(f"openb:{v}", "openb:nodes", p, s) for v in lists for p in VARIANT_POLICIES for s in (42, 43, 44)]
    )
    table: dict[str, dict[str, float]] = {}
    print("variant      " + " ".join(f"{p:>12s}" for p in VARIANT_POLICIES))
    for v in lists:
        row = {}
        for p in VARIANT_POLICIES:
            ends = [r["ratios"][-1] * 100 for r in runs if r["policy"] == p and r["pods"] == f"openb:{v}"]  # type: ignore[index]
            row[p] = sum(ends) / len(ends)
        table[v] = row
        print(f"{v:12s} " + " ".join(f"{row[p]:12.2f}" for p in VARIANT_POLICIES), flush=True)
    wins = sum(max(row, key=row.__getitem__) == "fgd-balance" for row in table.values())
    print(f"fgd-balance best on {wins}/{len(lists)} lists; mean gain over fgd", end=" ")
    print(f"{sum(r['fgd-balance'] - r['fgd'] for r in table.values()) / len(lists):+.2f} points")
    return table


def optimal(instances: int = 5) -> dict[str, float]:
    """Mean gap (GPU points of the instance) between each placer and the exact bound on small instances."""
    import polars as pl

    from gpufleet.optimizer.packing import PLACERS
    from gpufleet.optimizer.packing.bound import optimal_allocation
    from gpufleet.optimizer.packing.experiment import pack_once

    pods, nodes = _load("openb:default"), _load("openb:nodes").filter(pl.col("num_gpus") > 0)
    gaps: dict[str, list[float]] = {p: [] for p in PLACERS.names()}
    for k in range(instances):
        nd = nodes.sample(8, seed=k)
        total = float(nd["num_gpus"].sum())
        pp = pods.sample(fraction=1.0, shuffle=True, seed=k)
        pp = pp.filter(pp["num_gpus"].cum_sum() <= 1.3 * total)
        t0 = time.perf_counter()
        b = optimal_allocation(pp, nd, time_limit=20)
        line = f"optimal #{k}: {pp.height} pods, {total:.0f} GPUs, best placement {b.gpus / total:.2%},"
        line += f" bound {b.upper / total:.2%} ({'optimal' if b.optimal else 'time limit'},"
        line += f" {time.perf_counter() - t0:.1f} s)"
        for p in PLACERS.names():
            got = float(pack_once(pp, nd, p, 42 + k)["allocated_gpus"])  # type: ignore[arg-type]
            assert got <= b.upper + 1e-6, f"{p} beat the bound"
            gaps[p].append(100 * (b.upper - got) / total)
        print(line, flush=True)
    out = {p: sum(g) / len(g) for p, g in gaps.items()}
    for p, g in sorted(out.items(), key=lambda kv: kv[1]):
        print(f"optimal gap {p:12s} {g:5.2f} points of the instance's GPUs below the bound", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="speed,main,variants,optimal")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args, _ = ap.parse_known_args()
    if not os.environ.get("GPUFLEET_DATA"):
        print("GPUFLEET_DATA is not set: the packing benchmarks need the openb traces; skipped")
        return 0
    parts = args.only.split(",")
    res: dict[str, object] = {}
    for name, fn in (("speed", speed), ("main", main_table), ("variants", variants), ("optimal", optimal)):
        if name in parts:
            res[name] = fn()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
