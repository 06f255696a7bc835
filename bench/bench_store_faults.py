"""Store fault injection (issue #21): SIGKILL a real writer at every named crash point and at random moments,
re-run it, and count what the store lost or holds twice against the source. Prints one line per trial and a
summary (trials, rows missing, rows duplicated, readers that failed, files left by interrupted writes).
Usage: python bench/bench_store_faults.py [--random 20 --seed 20261206]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--random", type=int, default=20, help="kills at random moments (besides the named points)")
    ap.add_argument("--seed", type=int, default=20261206)
    args, _ = ap.parse_known_args()
    import polars as pl
    from tests.collector.store_faults import (
        diff,
        expected,
        kill_after,
        kill_when_data_files_appear,
        make_big,
        make_source,
        parse_done,
        run,
    )
    from tests.collector.test_store_crash import CRASH_POINTS

    from gpufleet.collector.store import Store
    from gpufleet.core.errors import GpufleetError

    rng = random.Random(args.seed)
    trials = [(m, p, None) for m, p in CRASH_POINTS]
    trials += [("collect", "random", rng.uniform(0.0, 0.6)) for _ in range(args.random)]
    totals = {"trials": 0, "missing": 0, "duplicated": 0, "extra": 0, "reader_failures": 0, "cleaned": 0}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src = make_source(Path(tmp) / "source")
        samples = expected(src, "collect")[0]
        print(f"source: {samples.height:,} GPU samples over 6 h (2 days), 40 jobs; one window an hour")
        for k, (mode, point, delay) in enumerate(trials):
            store = Path(tmp) / f"s{k}"
            if mode in ("compact", "retention"):
                run(store, src, "collect")
            if mode == "upgrade":
                run(store, src, "legacy")
            t0 = time.perf_counter()
            rc = kill_after(store, src, mode, delay) if delay is not None else run(store, src, mode, point).returncode
            try:
                seen = diff(store, samples)
                Store(store).info()
                reader = "ok" if seen.duplicated == seen.extra == 0 else "INCONSISTENT"
            except GpufleetError as e:
                reader = "old layout" if "pre-Delta" in str(e) else f"FAILED {e}"
            totals["reader_failures"] += reader not in ("ok", "old layout")
            again = run(store, src, mode)
            d = diff(store, expected(src, mode)[0])
            cleaned = int(parse_done(again.stdout)["cleaned_files"]) if again.returncode == 0 else -1  # type: ignore[call-overload]
            totals["trials"] += 1
            totals["missing"] += d.missing
            totals["duplicated"] += d.duplicated
            totals["extra"] += d.extra
            totals["cleaned"] += max(0, cleaned)
            what = point if delay is None else f"kill after {delay:.3f} s"
            print(
                f"  {mode:9s} {what:34s} rc {rc:>3}  readers after the kill: {reader:10s}"
                f" re-run rc {again.returncode}  missing {d.missing} duplicated {d.duplicated} extra {d.extra}"
                f"  files cleaned {cleaned}  ({time.perf_counter() - t0:.1f} s)"
            )
        # inside the library's own write: killed once its first data file is on disk, before the commit
        big = make_big(src)
        for exists in (False, True):
            store = Path(tmp) / f"big{exists}"
            if exists:
                run(store, src, "collect")
            rc = kill_when_data_files_appear(store, src, "big")
            left = len(list((store / "gpu_samples").glob("_source=big/*/*.parquet")))
            visible = Store(store).read("GPU_SAMPLES").filter(pl.col("node") == "node-big").height
            again = run(store, src, "big")
            cleaned = int(parse_done(again.stdout)["cleaned_files"])  # type: ignore[call-overload]
            want = pl.concat([samples, big], how="diagonal_relaxed") if exists else big
            d = diff(store, want.select(big.columns))
            totals["trials"] += 1
            totals["missing"] += d.missing
            totals["duplicated"] += d.duplicated
            totals["extra"] += d.extra
            totals["reader_failures"] += visible != 0
            totals["cleaned"] += cleaned
            print(
                f"  big       {'later' if exists else 'first'} write, killed with {left} data file(s) on disk"
                f"  rc {rc}  rows of it visible {visible}  re-run rc {again.returncode}  missing {d.missing}"
                f" duplicated {d.duplicated} extra {d.extra}  files cleaned {cleaned}"
            )
    print(
        f"store faults: {totals['trials']} kills ({len(CRASH_POINTS)} named points, {args.random} random moments,"
        " 2 inside the library's write)"
        f" -> rows missing {totals['missing']}, duplicated {totals['duplicated']}, invented {totals['extra']};"
        f" readers failed {totals['reader_failures']}; files of interrupted writes cleaned {totals['cleaned']}"
        f" ({time.perf_counter() - t_all:.0f} s)"
    )
    return 0 if totals["missing"] == totals["duplicated"] == totals["extra"] == totals["reader_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
