"""Per-workload GPU series derived from GPU_SAMPLES, checked against a plain-Python count."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import polars as pl

from gpufleet.collector.derive import derive_gpu_series, gpu_series
from gpufleet.collector.store import Store
from gpufleet.core.workloads import workload_name
from gpufleet.traces import load


def samples() -> pl.DataFrame:
    return load("synthetic:gpu-samples", n_gpus=16, hours=3, interval_s=60).frame


def test_gpus_held_and_busy_match_a_plain_count() -> None:
    s = samples()
    got, unattributed = gpu_series(s, 300)
    assert unattributed == s["pod"].null_count() > 0
    held: dict[tuple[str, int], set[str]] = defaultdict(set)
    busy: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for r in s.filter(pl.col("pod").is_not_null()).iter_rows(named=True):
        b = int(r["ts"].timestamp()) // 300 * 300
        w = workload_name(r["pod"], r["namespace"])
        held[(w, b)].add(r["gpu_uuid"])
        busy[(w, b, r["gpu_uuid"])].append(r["util"])
    want_busy: dict[tuple[str, int], float] = defaultdict(float)
    for (w, b, _), us in busy.items():
        want_busy[(w, b)] += sum(us) / len(us)
    rows = {(u, int(d.timestamp())): y for u, d, y in got.iter_rows()}
    assert len(rows) == 2 * len(held)
    for (w, b), gpus in held.items():
        assert rows[(f"{w}:gpus", b)] == len(gpus)
        assert abs(rows[(f"{w}:gpus_busy", b)] - want_busy[(w, b)]) < 1e-9


def test_only_whole_buckets_once(tmp_path: Path) -> None:
    s = samples()
    store = Store(tmp_path / "s")
    store.append("GPU_SAMPLES", "prometheus", s, ["gpu_uuid", "pod"])
    t0 = s["ts"].min()
    half = derive_gpu_series(store, t0, t0 + timedelta(minutes=97), 600)  # ends inside a bucket
    assert store.read("SERIES")["ds"].max() == t0 + timedelta(minutes=80)
    again = derive_gpu_series(store, t0, t0 + timedelta(minutes=97), 600)
    rest = derive_gpu_series(store, t0, t0 + timedelta(hours=3), 600)
    got = store.read("SERIES")
    assert again["series_rows"] == 0 and half["series_rows"] + rest["series_rows"] == got.height
    assert got.unique(["unique_id", "ds"]).height == got.height
    whole, _ = gpu_series(s, 600)
    both = got.join(whole, on=["unique_id", "ds"], how="full", suffix="_all")
    assert both.height == whole.height == got.height, "chunked: the same points as all at once"
    # sums over GPUs come in group order, which polars does not fix: equal up to rounding
    assert (both["y"] - both["y_all"]).abs().max() < 1e-12
