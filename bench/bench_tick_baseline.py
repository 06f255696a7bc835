"""Anchor: the same FIFO replay done the way published GPU-cluster simulators do it (a loop that advances
simulated time one second at a time, as the Helios, Lucid and Tiresias simulators do), against
gpufleet's event-driven engine, in the same process, on the same trace and cluster.

The baseline is written here from the published description (tick, finish, admit, schedule FIFO with
first-fit on whole 8-GPU nodes and the same gang rule); it is not their code. It reports both wall times,
the speed ratio, and how far the two schedules differ (ticks round start times up to the next second).
Usage: GPUFLEET_DATA=../shared/traces python bench/bench_tick_baseline.py [REF] [NODES]
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np


def tick_fifo(
    submit: list[float], duration: list[float], gpus: list[int], nodes: int, per_node: int = 8
) -> list[float]:
    """FIFO + first-fit, stepping time by 1 s; returns each job's JCT."""
    order = sorted(range(len(submit)), key=lambda i: (submit[i], i))
    free = [per_node] * nodes
    running: dict[int, tuple[int, list[tuple[int, int]]]] = {}  # job -> (end tick, [(node, gpus)])
    queue: list[int] = []
    jct = [math.nan] * len(submit)
    nxt, t = 0, math.floor(submit[order[0]])
    while nxt < len(order) or queue or running:
        for i in [i for i, (end, _) in running.items() if end <= t]:
            for n, g in running.pop(i)[1]:
                free[n] += g
            jct[i] = t - submit[i]
        while nxt < len(order) and submit[order[nxt]] <= t:
            queue.append(order[nxt])
            nxt += 1
        while queue:
            i, need = queue[0], gpus[queue[0]]
            parts: list[tuple[int, int]] = []
            if need <= per_node:
                n = next((n for n in range(nodes) if free[n] >= need), None)
                parts = [(n, need)] if n is not None else []
            else:
                chunks = [per_node] * (need // per_node) + ([need % per_node] if need % per_node else [])
                used: set[int] = set()
                for c in chunks:
                    n = next((n for n in range(nodes) if n not in used and free[n] >= c), None)
                    if n is None:
                        parts = []
                        break
                    used.add(n)
                    parts.append((n, c))
            if not parts:
                break
            for n, g in parts:
                free[n] -= g
            running[i] = (t + math.ceil(duration[i]), parts)
            queue.pop(0)
        t += 1
    return jct


def main() -> None:
    """Run both on one trace and print the comparison."""
    from gpufleet.sim.cluster_spec import parse_spec
    from gpufleet.sim.run import SimConfig, simulate
    from gpufleet.traces import load

    ref = sys.argv[1] if len(sys.argv) > 1 else "itp:cluster04"
    nodes = int(sys.argv[2]) if len(sys.argv) > 2 else 78
    jobs = load(ref).frame
    t0 = time.perf_counter()
    ev = simulate(jobs, parse_spec(f"{nodes}x8:V100"), SimConfig(scheduler="fifo", placement="first-fit"))
    t_ev = time.perf_counter() - t0
    t0 = time.perf_counter()
    tick = tick_fifo(
        jobs["submit_time"].to_list(), jobs["duration"].to_list(), [int(g) for g in jobs["num_gpus"].to_list()], nodes
    )
    t_tick = time.perf_counter() - t0
    by_id = dict(zip(jobs["job_id"].to_list(), tick, strict=True))
    a = ev.jobs["jct"].to_numpy()
    b = np.array([by_id[j] for j in ev.jobs["job_id"].to_list()])
    print(f"{ref} on {nodes}x8 GPUs, FIFO + first-fit, {jobs.height:,} jobs")
    print(f"  event-driven (gpufleet): {t_ev:8.2f} s   avg JCT {a.mean() / 3600:8.3f} h")
    print(f"  1-second ticks (baseline): {t_tick:6.2f} s   avg JCT {b.mean() / 3600:8.3f} h")
    print(
        f"  speed-up {t_tick / t_ev:,.0f}x; avg JCT differs by {abs(a.mean() - b.mean()):.1f} s; "
        f"median |per-job JCT difference| {np.median(np.abs(a - b)):.1f} s"
    )


if __name__ == "__main__":
    main()
