"""The collector's durable store: an append-only Parquet dataset partitioned by table, source and day.

Layout: `STORE/<table>/source=<source>/day=<YYYY-MM-DD>/part-<n>.parquet`, plus `STORE/_watermarks.json`.
- Every write is atomic: the part is written to a temporary file in the same folder, then renamed.
- A watermark per (source, series) records the last timestamp stored; `append` keeps only rows after it, so
  re-running a window (after a crash, a retry, an overlapping schedule) adds nothing twice and leaves no gap.
  The watermark moves only after the part is on disk.
- Readers scan lazily with polars (`scan`), so a large store is never loaded whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.core.schemas import TABLES, validate

WATERMARKS = "_watermarks.json"


class Store:
    """One store directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._marks: dict[str, dict[str, str]] | None = None

    # -- watermarks ---------------------------------------------------------------------------------
    def _load_marks(self) -> dict[str, dict[str, str]]:
        if self._marks is None:
            p = self.root / WATERMARKS
            try:
                self._marks = json.loads(p.read_text()) if p.exists() else {}
            except (OSError, json.JSONDecodeError) as e:
                raise GpufleetError(
                    f"{p}: unreadable watermarks ({e}); move it away to rebuild from the data"
                ) from None
        return self._marks

    def watermark(self, source: str, series: str) -> datetime | None:
        """Last timestamp stored for (source, series), or None."""
        v = self._load_marks().get(source, {}).get(series)
        return datetime.fromisoformat(v) if v else None

    def _save_marks(self) -> None:
        marks = self._load_marks()
        _atomic_write_text(self.root / WATERMARKS, json.dumps(marks, indent=1, sort_keys=True))

    # -- writing ------------------------------------------------------------------------------------
    def append(self, table: str, source: str, frame: pl.DataFrame, keys: list[str]) -> int:
        """Validate `frame` as `table`, drop rows at or before each series' watermark (a series = the values of
        `keys`), write what is new (one part per day), then move the watermarks. Returns the rows written."""
        if table not in TABLES:
            raise GpufleetError(f"unknown table {table!r}")
        if frame.height == 0:
            return 0
        ts_col = "ds" if table == "SERIES" else "ts"
        frame = validate(frame, table)
        marks = self._load_marks().setdefault(source, {})
        key = pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys], separator="|")
        mark = key.replace_strict(
            {k: datetime.fromisoformat(v) for k, v in marks.items()},
            default=None,
            return_dtype=pl.Datetime("us", "UTC"),
        )
        fresh = (
            frame.with_columns(key.alias("_key"))
            .filter(mark.is_null() | (pl.col(ts_col) > mark))
            .unique(subset=["_key", ts_col], keep="first", maintain_order=True)
        )
        if fresh.height == 0:
            return 0
        days = fresh.with_columns(pl.col(ts_col).dt.date().alias("_day"))
        for (day,), part in days.group_by("_day", maintain_order=True):
            folder = self.root / table.lower() / f"source={source}" / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            n = len(list(folder.glob("part-*.parquet")))
            _atomic_write_parquet(part.drop("_day", "_key"), folder / f"part-{n:05d}.parquet")
        last = fresh.group_by(pl.col("_key").alias("k")).agg(pl.col(ts_col).max().alias("t"))
        for k, t in last.iter_rows():
            prev = marks.get(k)
            if prev is None or datetime.fromisoformat(prev) < t:
                marks[k] = t.isoformat()
        self._save_marks()
        return fresh.height

    def merge_jobs(self, source: str, jobs: pl.DataFrame) -> int:
        """Upsert JOBS: a pod seen again (it finished since) replaces its earlier record. Jobs change, unlike
        samples, so they live in one file per source (`jobs/source=<s>/jobs.parquet`), rewritten atomically.
        Returns the jobs the source now holds."""
        return self._upsert("jobs", source, jobs, "job_id", "submit_time")

    def merge_nodes(self, source: str, nodes: pl.DataFrame) -> int:
        """Upsert NODES by node name (capacity changes as nodes come and go); one file per source."""
        return self._upsert("nodes", source, nodes, "node_id", "node_id")

    def _upsert(self, name: str, source: str, frame: pl.DataFrame, key: str, order: str) -> int:
        folder = self.root / name / f"source={source}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.parquet"
        if path.exists():
            old = pl.read_parquet(path)
            frame = pl.concat([old, frame], how="diagonal_relaxed").unique(key, keep="last", maintain_order=True)
        _atomic_write_parquet(frame.sort(order), path)
        return frame.height

    # -- reading ------------------------------------------------------------------------------------
    def scan(self, table: str, source: str | None = None) -> pl.LazyFrame:
        """Lazy scan of a table (optionally one source); an empty frame of the table's schema when none."""
        base = self.root / table.lower()
        if table in ("JOBS", "NODES"):
            files = sorted(base.glob(f"source={source or '*'}/{table.lower()}.parquet"))
            if not files:
                return TABLES[table].empty().lazy()
            return pl.concat([pl.scan_parquet(str(f)) for f in files], how="diagonal_relaxed")
        pattern = base / (f"source={source}" if source else "source=*") / "day=*" / "*.parquet"
        if not list(base.glob(str(pattern.relative_to(base)))):
            return TABLES[table].empty().lazy()
        return pl.scan_parquet(str(pattern), hive_partitioning=False)

    def read(self, table: str, source: str | None = None) -> pl.DataFrame:
        """A whole table (for small stores and tests; prefer `scan`)."""
        return self.scan(table, source).collect()

    def info(self) -> dict[str, object]:
        """Tables, sources, days and rows in the store."""
        out: dict[str, object] = {}
        for tdir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            parts = sorted(tdir.glob("source=*/day=*/*.parquet"))
            parts += sorted(tdir.glob("source=*/jobs.parquet")) + sorted(tdir.glob("source=*/nodes.parquet"))
            rows = sum(pl.scan_parquet(str(p)).select(pl.len()).collect().item() for p in parts)
            out[tdir.name] = {
                "files": len(parts),
                "rows": rows,
                "sources": sorted(
                    {next(x for x in p.parts if x.startswith("source=")).split("=", 1)[1] for p in parts}
                ),
                "days": len({p.parent.name for p in parts}),
            }
        return out

    # -- maintenance --------------------------------------------------------------------------------
    def _days(self) -> list[Path]:
        return sorted(self.root.glob("*/source=*/day=*"))

    def compact(self) -> dict[str, int]:
        """Merge each day's parts into one. Crash-safe: the merged day is built in a hidden sibling folder and
        swapped in by renames, so a reader sees either the old parts or the new one, never both."""
        merged = files_before = 0
        for day in self._days():
            parts = sorted(day.glob("part-*.parquet"))
            if len(parts) < 2:
                continue
            files_before += len(parts)
            new = day.parent / f".compacting-{day.name}"
            old = day.parent / f".old-{day.name}"
            for junk in (new, old):
                if junk.exists():
                    shutil.rmtree(junk)
            new.mkdir()
            frame = pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed")
            _atomic_write_parquet(frame, new / "part-00000.parquet")
            os.replace(day, old)
            os.replace(new, day)
            shutil.rmtree(old)
            merged += 1
        return {"days_compacted": merged, "files_before": files_before}

    def retention(self, keep_days: int, today: date | None = None) -> dict[str, object]:
        """Delete day partitions older than `keep_days` before `today` (UTC); watermarks stay, so a re-run
        of an old window does not bring deleted data back."""
        today = today or datetime.now(UTC).date()
        cutoff = today - timedelta(days=keep_days)
        dropped = 0
        for day in self._days():
            d = date.fromisoformat(day.name.split("=", 1)[1])
            if d < cutoff:
                shutil.rmtree(day)
                dropped += 1
        return {"days_deleted": dropped, "kept_from": cutoff.isoformat()}


def is_store(path: str | Path) -> bool:
    """Whether `path` is a collector store directory."""
    p = Path(path)
    return p.is_dir() and ((p / WATERMARKS).exists() or any(p.glob("*/source=*")))


def _atomic_write_parquet(df: pl.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=path.parent)
    os.close(fd)
    try:
        df.write_parquet(tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
