"""The store's fault-injection harness, shared by the tests and `bench/bench_store_faults.py`.

Each trial: a real writer process (`store_driver.py`) is killed with SIGKILL, either at a named crash point
(`GPUFLEET_CRASH_AT`) or from outside after a random delay; readers must work on what it left; then the
writer is run again and the store must equal the source exactly (0 rows missing, 0 duplicated).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from gpufleet.collector.store import Store
from gpufleet.core.schemas import validate

DRIVER = Path(__file__).with_name("store_driver.py")
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)  # six hours across midnight: two day partitions
SAMPLE_KEY = ["ts", "node", "gpu_uuid"]


def make_source(folder: Path, hours: int = 6, gpus: int = 6, step_s: int = 30, seed: int = 7) -> Path:
    """Deterministic GPU samples (some pods missing: null keys) and jobs, as parquet files."""
    rng = np.random.default_rng(seed)
    n = hours * 3600 // step_s
    rows = []
    for g in range(gpus):
        node, idx = f"node-{g // 2}", g % 2
        for k in range(n):
            rows.append(
                {
                    "ts": T0 + timedelta(seconds=k * step_s),
                    "node": node,
                    "gpu_uuid": f"GPU-{g:04d}",
                    "gpu_index": idx,
                    "util": float(rng.random()),
                    "mem_used_bytes": int(rng.integers(0, 80 * 2**30)),
                    "pod": None if (k // 120 + g) % 3 == 0 else f"train-{g}-{k // 240}",
                    "source": "dcgm",
                }
            )
    folder.mkdir(parents=True, exist_ok=True)
    validate(pl.DataFrame(rows, infer_schema_length=None), "GPU_SAMPLES").write_parquet(folder / "samples.parquet")
    t0 = T0.timestamp()
    jobs = pl.DataFrame(
        {
            "job_id": [f"job-{j}" for j in range(40)],
            "submit_time": [t0 + j * hours * 3600 / 40 for j in range(40)],
            "duration": [float(rng.integers(60, 3 * 3600)) for _ in range(40)],
            "num_gpus": [float(1 + j % 4) for j in range(40)],
            "kind": ["train"] * 40,
        }
    )
    validate(jobs, "JOBS").write_parquet(folder / "jobs.parquet")
    return folder


def make_big(folder: Path, rows: int = 1_000_000) -> pl.DataFrame:
    """One GPU's samples, a second apart: an append big enough to take a while to write."""
    rng = np.random.default_rng(3)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    big = pl.DataFrame(
        {
            "ts": pl.datetime_range(start, start + timedelta(seconds=rows - 1), "1s", eager=True, time_zone="UTC"),
            "node": "node-big",
            "gpu_uuid": "GPU-big",
            "util": rng.random(rows),
            "source": "dcgm",
        }
    )
    big = validate(big, "GPU_SAMPLES")
    big.write_parquet(folder / "big.parquet")
    return big


def env(crash: str | None = None) -> dict[str, str]:
    """The driver's environment: this checkout on the path, optionally a crash point armed."""
    e = {k: v for k, v in os.environ.items() if k != "GPUFLEET_CRASH_AT"}
    e["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    if crash:
        e["GPUFLEET_CRASH_AT"] = crash
    return e


def run(store: Path, src: Path, mode: str, crash: str | None = None, **kw: object) -> subprocess.CompletedProcess:
    """Run the driver to its end (or its crash)."""
    return subprocess.run(
        [sys.executable, str(DRIVER), str(store), str(src), mode],
        env=env(crash),
        capture_output=True,
        text=True,
        timeout=180,
        **kw,  # type: ignore[arg-type]
    )


def kill_after(store: Path, src: Path, mode: str, delay_s: float) -> int:
    """Start the driver, SIGKILL it `delay_s` after it is ready (imports done); its return code."""
    p = subprocess.Popen(
        [sys.executable, str(DRIVER), str(store), str(src), mode],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        p.stdout.readline()  # {"event": "ready"}
        time.sleep(delay_s)
        p.send_signal(signal.SIGKILL)
        return p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def kill_when_data_files_appear(store: Path, src: Path, mode: str, table: str = "gpu_samples") -> int:
    """Start the driver and SIGKILL it the moment the library has put a new data file of source `big` on disk
    while the table's log has no new commit: inside the library's write, between its steps."""
    log = store / table / "_delta_log"
    commits = len(list(log.glob("0*.json")))
    p = subprocess.Popen(
        [sys.executable, str(DRIVER), str(store), str(src), mode],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline:
            if any((store / table).glob("_source=big/*/*.parquet")) and len(list(log.glob("0*.json"))) == commits:
                p.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        return p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def expected(src: Path, mode: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The GPU samples and jobs the store must hold after a complete run of `mode` over the source."""
    from tests.collector.store_driver import jobs_known_at

    samples = pl.read_parquet(src / "samples.parquet")
    jobs = pl.read_parquet(src / "jobs.parquet")
    end = samples["ts"].min() + timedelta(
        hours=int((samples["ts"].max() - samples["ts"].min()).total_seconds() // 3600) + 1
    )
    jobs = validate(jobs_known_at(jobs, end.timestamp()), "JOBS")
    if mode == "retention":
        samples = samples.filter(pl.col("ts").dt.date() >= samples["ts"].max().date())
    return samples.sort(SAMPLE_KEY), jobs.sort("job_id")


@dataclass
class Diff:
    """How a store's GPU samples differ from the source."""

    missing: int
    duplicated: int
    extra: int

    @property
    def exact(self) -> bool:
        """Nothing missing, nothing twice, nothing invented."""
        return self.missing == self.duplicated == self.extra == 0


def diff(store: Path, want: pl.DataFrame) -> Diff:
    """Rows of `want` missing from the store, stored more than once, and stored but not in `want`."""
    got = Store(store).read("GPU_SAMPLES").select(want.columns)
    counts = got.group_by(want.columns).len()
    dup = int(counts.filter(pl.col("len") > 1).select((pl.col("len") - 1).sum()).item() or 0)
    missing = want.join(got.unique(), on=want.columns, how="anti", nulls_equal=True).height
    extra = got.unique().join(want, on=want.columns, how="anti", nulls_equal=True).height
    return Diff(missing, dup, extra)


def visible_is_consistent(store: Path, want: pl.DataFrame) -> bool:
    """What readers see after a crash: a subset of the source with nothing twice (a writer's commits are
    whole windows, so a crash can only leave the later ones out)."""
    d = diff(store, want)
    Store(store).info()  # every reader works: metadata too
    return d.duplicated == 0 and d.extra == 0


def parse_done(stdout: str) -> dict[str, object]:
    """The driver's closing JSON line."""
    for line in reversed(stdout.strip().splitlines()):
        doc = json.loads(line)
        if doc.get("event") == "done":
            return doc
    raise AssertionError(f"driver did not finish: {stdout!r}")
