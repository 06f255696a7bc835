"""A collector-shaped writer for the store's fault-injection tests, run as a real process.

`python store_driver.py STORE SOURCE_DIR MODE` where SOURCE_DIR holds `samples.parquet` (GPU samples) and
`jobs.parquet` (the jobs' final records):
- collect: pulls the whole source again, window by window (one hour each), as a restarted collector whose
  cursor was lost would: each window's samples are appended and the jobs known by then upserted (running
  jobs without a duration, finished ones with it);
- compact, retention: `store compact`, `store retention --days 0` as of the last day;
- big: one append of `big.parquet` (a million rows), so that a delayed crash point lands inside the write;
- hold: takes the writer lock and waits (a second collector must be refused while this runs);
- legacy: writes the pre-Delta layout of the whole source (what an old store on disk looks like), with a
  leftover temporary file of an interrupted write.
It prints one JSON line of what it did; a GpufleetError ends it as the CLI does (one line, exit 2).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from gpufleet.collector.store import Store
from gpufleet.core.errors import GpufleetError

KEYS = ["node", "gpu_uuid", "gpu_index", "mig_profile", "pod"]


def jobs_known_at(jobs: pl.DataFrame, t: float) -> pl.DataFrame:
    """What a pull at time t knows: submitted jobs; a duration only for those finished by then."""
    seen = jobs.filter(pl.col("submit_time") <= t)
    done = pl.col("submit_time") + pl.col("duration") <= t
    return seen.with_columns(pl.when(done).then(pl.col("duration")).otherwise(None).alias("duration"))


def collect(store: Store, src: Path) -> dict[str, int]:
    samples = pl.read_parquet(src / "samples.parquet")
    jobs = pl.read_parquet(src / "jobs.parquet")
    t0 = samples["ts"].min()
    windows = samples.with_columns(((pl.col("ts") - t0).dt.total_seconds() // 3600).alias("_w"))
    rows = 0
    for (w,), part in windows.group_by("_w", maintain_order=True):
        rows += store.append("GPU_SAMPLES", "prom", part.drop("_w"), KEYS)
        end = (t0 + timedelta(hours=int(w) + 1)).timestamp()  # type: ignore[operator]
        store.merge_jobs("kube", jobs_known_at(jobs, end))
    return {"rows_written": rows}


def legacy(root: Path, src: Path) -> dict[str, int]:
    samples = pl.read_parquet(src / "samples.parquet")
    for k, ((day,), part) in enumerate(samples.group_by(pl.col("ts").dt.date(), maintain_order=True)):
        folder = root / "gpu_samples" / "source=prom" / f"day={day}"
        folder.mkdir(parents=True, exist_ok=True)
        half = part.height // 2
        part.head(half).write_parquet(folder / "part-00000.parquet")
        part.tail(part.height - half).write_parquet(folder / "part-00001.parquet")
        if k == 0:  # the old layout's crash leftover that broke every reader
            (folder / ".tmp-abc123.parquet").write_bytes(b"PAR1 half a file")
    jobs = root / "jobs" / "source=kube"
    jobs.mkdir(parents=True)
    pl.read_parquet(src / "jobs.parquet").write_parquet(jobs / "jobs.parquet")
    (root / "_watermarks.json").write_text("{}")
    return {"rows": samples.height}


def main() -> int:
    root, src, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    store = Store(root)
    print(json.dumps({"event": "ready"}), flush=True)
    try:
        if mode == "collect":
            out: dict[str, object] = collect(store, src)
        elif mode == "big":  # one large append: a kill lands inside the library's write
            big = pl.read_parquet(src / "big.parquet")
            out = {"rows_written": store.append("GPU_SAMPLES", "big", big, KEYS)}
        elif mode == "compact":
            out = dict(store.compact())
        elif mode == "retention":
            last = pl.read_parquet(src / "samples.parquet")["ts"].max().date()
            out = store.retention(0, today=last)
        elif mode == "upgrade":
            out = dict(store.upgrade())
        elif mode == "hold":
            store.upgrade()  # takes the writer lock
            print(json.dumps({"event": "holding"}), flush=True)
            time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 60)
            out = {}
        elif mode == "legacy":
            out = legacy(root, src)
        else:
            raise SystemExit(f"unknown mode {mode}")
    except GpufleetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"event": "done", "cleaned_files": store.cleaned_files} | out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
