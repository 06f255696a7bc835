"""Capacity search on Philly (#23 point 7): `gpufleet plan capacity --jobs philly:jobs --fleet 40x8:V100 --add
A100,H100 --target 'p95_wait<=1h'`, run as the command itself (a fresh process each time), with its replays in
this process (one worker), in a process pool (one worker per core) and as Ray tasks on a local runtime
(`--ray local`, when the `ray` extra is importable; otherwise it says so). Prints the wall time of each, the
number of replays and the answer, and checks that every mode gives the same answer and evidence (the probes
are fixed by the search, not by where they run).
Usage: python bench/bench_capacity.py [--jobs philly:jobs] [--fleet 40x8:V100] [--add A100,H100]
       [--target 'p95_wait<=1h'] [--modes inline,pool,ray]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from typing import Any


def run(args: argparse.Namespace, mode: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one `gpufleet plan capacity --json` and its answer."""
    cmd = [sys.executable, "-m", "gpufleet.cli", "plan", "capacity", "--jobs", args.jobs, "--fleet", args.fleet]
    cmd += ["--add", args.add, "--target", args.target, "--json"]
    cmd += {"inline": ["--workers", "1"], "pool": [], "ray": ["--ray", "local"]}[mode]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{mode}: exit {p.returncode}: {p.stderr.strip().splitlines()[-1:]}")
    return wall, json.loads(p.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="philly:jobs")
    ap.add_argument("--fleet", default="40x8:V100")
    ap.add_argument("--add", default="A100,H100")
    ap.add_argument("--target", default="p95_wait<=1h")
    ap.add_argument("--modes", default="inline,pool,ray")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "ray" in modes and importlib.util.find_spec("ray") is None:
        print("ray: not measured, the `ray` extra is not installed (pip install 'gpufleet[ray]')")
        modes.remove("ray")
    print(f"gpufleet plan capacity --jobs {args.jobs} --fleet {args.fleet} --add {args.add} --target '{args.target}'")
    print(f"{os.cpu_count()} CPUs; each mode a fresh process (start-up, loading, predictions and the search)")
    print(f"{'mode':<28} {'wall s':>8} {'replays':>8} {'replay s':>9}  answer")
    answers = {}
    for mode in modes:
        wall, d = run(args, mode)
        label = {"inline": "in-process (1 worker)", "pool": "process pool (1 per core)", "ray": "Ray, local runtime"}
        replay_s = sum(p["wall_s"] for p in d["probes"])
        money = f"${d['usd_per_month']:,.0f}/month" if d.get("met") else "-"
        print(f"{label[mode]:<28} {wall:>8.1f} {d['replays']:>8} {replay_s:>9.1f}  {d['answer']} ({money})")
        answers[mode] = (d.get("add"), [(p["fleet"], p["value_s"], p["met"]) for p in d["probes"]])
        if d.get("met"):
            nxt = d["next_cheaper"]
            print(f"{'':<28} one node fewer: {nxt['fleet']} p95 wait {nxt['value_s'] / 3600:.2f} h (missed)")
    same = len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1
    print(f"same answer and evidence in every mode: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
