"""Trace loading and synthetic generation speed: every dataset part once, and synthetic jobs at 10k..1M.

Prints wall time per dataset and in total (issue #2 asks <= 10 s for loading everything once) and the
synthetic generator's rate. Needs GPUFLEET_DATA for the real traces; synthetic runs without it.
"""

from __future__ import annotations

import os
import resource
import time

from gpufleet.traces import DATASETS, load


def bench_load() -> None:
    """Load every part of every dataset once, fresh process, and print the times."""
    if not os.environ.get("GPUFLEET_DATA"):
        print("GPUFLEET_DATA not set: skipping the real-trace loading benchmark")
        return
    t_all = time.perf_counter()
    for name, ds in DATASETS.items():
        if ds.folder is None:
            continue
        t0 = time.perf_counter()
        rows = sum(load(f"{name}:{p.name}").meta.rows for p in ds.parts)
        print(f"load {name:10s} {len(ds.parts):3d} parts {rows:>10,} rows {time.perf_counter() - t0:6.2f} s")
    print(f"load ALL datasets once: {time.perf_counter() - t_all:.2f} s")


def bench_synthetic() -> None:
    """Synthetic jobs at three sizes."""
    for n in (10_000, 100_000, 1_000_000):
        t0 = time.perf_counter()
        tr = load("synthetic:jobs", n_jobs=n, days=max(14, n // 2000))
        dt = time.perf_counter() - t0
        print(f"synthetic:jobs n={n:>9,} {dt:6.2f} s ({tr.meta.rows / dt:,.0f} jobs/s)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    bench_load()
    bench_synthetic()
