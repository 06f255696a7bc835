"""The collector's durable store: one Delta Lake table per canonical table, partitioned by source and day.

Layout: `STORE/<table>/_delta_log/` (the transaction log) and `STORE/<table>/_source=S/_day=D/*.parquet`,
plus `STORE/_writer.lock`. Why Delta (the `deltalake` library) and not files renamed into place:
- A write is one commit: the data files are written first and become visible only when the commit's log
  entry lands (an atomic put-if-absent). A crash before it leaves files no commit names; readers never see
  them, and the next writer deletes them at start-up and counts them.
- The watermark is the data. A series' watermark (the last timestamp stored for the values of its key
  columns) is read from the committed rows themselves, so data and watermark cannot disagree; `append`
  keeps only rows after it, and re-running a window (after a crash, a retry, an overlapping schedule) adds
  nothing twice and leaves no gap.
- Compaction and retention are commits too: a reader sees the old files or the new ones, never neither.
- One writer at a time (`store_lock`); readers need no lock and read a consistent snapshot.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from gpufleet.collector import native_stderr, store_legacy
from gpufleet.collector.store_lock import acquire
from gpufleet.core.errors import GpufleetError
from gpufleet.core.faults import crash_point
from gpufleet.core.schemas import TABLES, validate

UPSERTED = {"JOBS": ("job_id", "submit_time"), "NODES": ("node_id", "node_id")}  # key, sort order
PARTS = ["_source", "_day"]  # partition columns; never shown to readers
RETAINED_FROM = "gpufleet.retainedFrom"  # table property: rows before this day are never stored again
_SOURCE_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _delta() -> Any:
    import deltalake  # imported on use: readers of small stores and `--help` do not pay for it

    return deltalake


def _ts_col(table: str) -> str:
    return "ds" if table == "SERIES" else "ts"


class Store:
    """One store directory. Reading needs nothing; the first write takes the writer lock for this process."""

    def __init__(self, root: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise GpufleetError(f"store {self.root}: is a file, not a store directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GpufleetError(f"store {self.root}: cannot create it ({e.strerror})") from None
        self.log = log
        self.skipped_retained = 0  # rows refused because their day was deleted by retention
        self.cleaned_files = 0  # files of interrupted writes (never committed) removed at start-up
        self._marks: dict[tuple[str, str], tuple[int, dict[str, datetime]]] = {}
        self._mutex = threading.Lock()

    # -- paths and tables -----------------------------------------------------------------------------
    def _path(self, table: str) -> Path:
        return self.root / table.lower()

    def _table(self, table: str) -> Any | None:
        p = self._path(table)
        return _delta().DeltaTable(str(p)) if _is_table(p) else None

    def _tables(self) -> list[Path]:
        return sorted(p.parent for p in self.root.glob("*/_delta_log") if _is_table(p.parent))

    # -- start-up of a writer -------------------------------------------------------------------------
    def _begin_write(self) -> None:
        if not acquire(self.root):
            return
        crash_point("store.open.locked")
        self._upgrade()
        orphans = 0
        for p in self._tables():
            with self._writing(f"cleaning {p.name}"):
                dt = _delta().DeltaTable(str(p))
                # files earlier commits replaced (upserts, compaction), kept for readers of older snapshots
                old = dt.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False)
                # full=True also finds files no commit ever named (an interrupted write); retention 0
                # because this process is the only writer and holds the lock
                gone = dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True)
                orphans += len(gone) - len(old)
        # a table whose first write was interrupted has data files but no commit at all: none of it is data
        for tdir in {p.parent for p in self.root.glob("*/_source=*")} | {
            p.parent for p in self.root.glob("*/_delta_log")
        }:
            if not _is_table(tdir):
                for part in [*tdir.glob("_source=*"), tdir / "_delta_log"]:
                    if part.is_dir():
                        orphans += sum(1 for f in part.rglob("*") if f.is_file())
                        shutil.rmtree(part)
        self.cleaned_files += orphans
        if orphans and self.log:
            self.log(f"store {self.root}: removed {orphans} file(s) left by interrupted writes (never committed)")

    def _upgrade(self) -> None:
        """Move tables of the pre-Delta layout into Delta tables (see store_legacy)."""
        for tdir in store_legacy.legacy_tables(self.root):
            dt = self._table(tdir.name)
            if dt is None:
                frame, temps = store_legacy.old_frame(tdir)
                if frame is not None:
                    parts = ["_source"] if tdir.name.upper() in UPSERTED else PARTS
                    self._commit(tdir.name.upper(), frame, parts, meta={store_legacy.UPGRADE_KEY: "part-files"})
                    crash_point("store.upgrade.committed")
                if self.log:
                    rows = 0 if frame is None else frame.height
                    self.log(f"store {self.root}: {tdir.name} upgraded ({rows:,} rows; {temps} temporary files)")
            store_legacy.remove_old(tdir, self.root)

    # -- committing -----------------------------------------------------------------------------------
    def _commit(
        self,
        table: str,
        frame: pl.DataFrame,
        partition_by: list[str],
        *,
        predicate: str | None = None,
        meta: dict[str, str] | None = None,
    ) -> None:
        """One Delta commit of `frame` (append, or replace the rows matching `predicate`)."""
        dl = _delta()
        # Delta has no type for all-null columns of unknown type: store them as text
        frame = frame.with_columns(pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Null)
        with self._writing(table.lower()):
            dl.write_deltalake(
                str(self._path(table)),
                frame,  # the Arrow C stream: polars needs no pyarrow to hand it over (slim installs, #24)
                mode="overwrite" if predicate else "append",
                predicate=predicate,
                partition_by=partition_by,
                schema_mode="merge",
                commit_properties=dl.CommitProperties(custom_metadata=meta) if meta else None,
            )

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Library failures of a write (disk full, file too large, permissions) as one line. Nothing of
        the failed step is visible: its commit never landed."""
        try:
            with native_stderr.captured():
                yield
        except GpufleetError:
            raise
        except Exception as e:  # the library raises OSError, DeltaError, SchemaMismatchError... for one cause
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise GpufleetError(
                f"store {self.root}: {what} failed ({first}); nothing of this write is visible"
            ) from None

    # -- watermarks -----------------------------------------------------------------------------------
    def _series_marks(self, dt: Any | None, table: str, source: str, keys: list[str]) -> dict[str, datetime]:
        """Last timestamp per series of `source` in `dt` (the loaded table), from the committed rows (cached
        per table version)."""
        if dt is None:
            return {}
        version = dt.version()
        hit = self._marks.get((table, source))
        if hit is not None and hit[0] == version:
            return hit[1]
        ts = _ts_col(table)
        lf = pl.scan_delta(str(self._path(table))).filter(pl.col("_source") == source)
        have = lf.collect_schema().names()
        got = (
            lf.select(_key([k for k in keys if k in have], keys).alias("k"), pl.col(ts))
            .group_by("k")
            .agg(pl.col(ts).max())
            .collect()
        )
        marks = dict(zip(got["k"].to_list(), got[ts].to_list(), strict=True))
        self._marks[(table, source)] = (version, marks)
        return marks

    def watermark(self, source: str, series: str, keys: list[str], table: str = "GPU_SAMPLES") -> datetime | None:
        """Last timestamp stored for (source, series) in `table`, or None; a series is the values of `keys`
        joined by '|', as `append` keys it."""
        return self._series_marks(self._table(table), table, source, keys).get(series)

    def newest(self, source: str) -> datetime | None:
        """The newest timestamp any appended table holds from `source` (where a resumed pull starts)."""
        best: datetime | None = None
        for p in self._tables():
            table = p.name.upper()
            if table in UPSERTED:
                continue
            ts = _ts_col(table)
            v = pl.scan_delta(str(p)).filter(pl.col("_source") == source).select(pl.col(ts).max()).collect().item()
            if v is not None and (best is None or v > best):
                best = v
        return best

    # -- writing --------------------------------------------------------------------------------------
    def append(self, table: str, source: str, frame: pl.DataFrame, keys: list[str]) -> int:
        """Validate `frame` as `table`, keep the rows after each series' watermark (a series = the values of
        `keys`), and commit them in one transaction. Returns the rows written."""
        if table not in TABLES or table in UPSERTED:
            raise GpufleetError(f"unknown table to append to {table!r}")
        _check_source(source)
        if frame.height == 0:
            return 0
        ts = _ts_col(table)
        frame = validate(frame, table)
        with self._mutex:
            self._begin_write()
            dt = self._table(table)  # loaded once: cut-off, watermarks and the version before the commit
            floor = _retained_from(dt)
            if floor is not None:
                old = pl.col(ts).dt.date() < floor
                self.skipped_retained += int(frame.select(old.sum()).item())
                frame = frame.filter(~old)
            marks = self._series_marks(dt, table, source, keys)
            key = _key(keys, keys)
            mark = key.replace_strict(marks, default=None, return_dtype=pl.Datetime("us", "UTC"))
            fresh = (
                frame.with_columns(key.alias("_key"))
                .filter(mark.is_null() | (pl.col(ts) > mark))
                .unique(subset=["_key", ts], keep="first", maintain_order=True)
            )
            if fresh.height == 0:
                return 0
            before = None if dt is None else dt.version()
            crash_point("store.append.before-commit")
            self._commit(
                table,
                fresh.drop("_key").with_columns(
                    pl.lit(source).alias("_source"), pl.col(ts).dt.date().cast(pl.String).alias("_day")
                ),
                PARTS,
            )
            crash_point("store.append.committed")
            self._advance_marks(table, source, before, fresh, ts)
            return fresh.height

    def _version(self, table: str) -> int | None:
        dt = self._table(table)
        return None if dt is None else dt.version()

    def _advance_marks(self, table: str, source: str, before: int | None, fresh: pl.DataFrame, ts: str) -> None:
        """Move the cached watermarks by what was just committed, if nobody else committed in between."""
        after = self._version(table)
        hit = self._marks.get((table, source))
        if after is None or hit is None or hit[0] != before or after != (before or 0) + 1:
            self._marks.pop((table, source), None)  # recomputed from the data next time
            return
        marks = dict(hit[1])
        for k, t in fresh.group_by("_key").agg(pl.col(ts).max()).iter_rows():
            if k not in marks or marks[k] < t:
                marks[k] = t
        self._marks[(table, source)] = (after, marks)

    def merge_jobs(self, source: str, jobs: pl.DataFrame) -> int:
        """Upsert JOBS: a pod seen again (it finished since) replaces its earlier record. Returns the jobs
        the source now holds."""
        return self._upsert("JOBS", source, jobs)

    def merge_nodes(self, source: str, nodes: pl.DataFrame) -> int:
        """Upsert NODES by node name (capacity changes as nodes come and go)."""
        return self._upsert("NODES", source, nodes)

    def _upsert(self, table: str, source: str, frame: pl.DataFrame) -> int:
        _check_source(source)
        key, order = UPSERTED[table]
        with self._mutex:
            self._begin_write()
            old = self.scan(table, source).collect()
            if old.height:
                frame = pl.concat([old, frame], how="diagonal_relaxed").unique(key, keep="last", maintain_order=True)
            crash_point("store.upsert.before-commit")
            # replacing one source's rows is one commit: readers see the old set or the new one
            self._commit(
                table,
                frame.sort(order).with_columns(pl.lit(source).alias("_source")),
                ["_source"],
                predicate=f"_source = '{source}'",
            )
            return frame.height

    # -- reading --------------------------------------------------------------------------------------
    def scan(self, table: str, source: str | None = None) -> pl.LazyFrame:
        """Lazy scan of a table (optionally one source); an empty frame of the table's schema when none."""
        _refuse_legacy(self.root)
        if self._table(table) is None:
            return TABLES[table].empty().lazy()
        lf = pl.scan_delta(str(self._path(table)))
        if source is not None:
            lf = lf.filter(pl.col("_source") == source)
        have = lf.collect_schema().names()
        return lf.drop([c for c in PARTS if c in have])

    def read(self, table: str, source: str | None = None) -> pl.DataFrame:
        """A whole table (for small stores and tests; prefer `scan`)."""
        return self.scan(table, source).collect()

    def info(self) -> dict[str, object]:
        """Tables, sources, days, files, rows and the table version."""
        _refuse_legacy(self.root)
        out: dict[str, object] = {}
        for p in self._tables():
            dt = _delta().DeltaTable(str(p))
            lf = pl.scan_delta(str(p))
            names = lf.collect_schema().names()
            parts = lf.select([c for c in PARTS if c in names]).unique().collect()
            out[p.name] = {
                "files": len(dt.file_uris()),
                "rows": lf.select(pl.len()).collect().item(),
                "sources": sorted(set(parts["_source"].to_list())) if "_source" in parts.columns else [],
                "days": parts["_day"].n_unique() if "_day" in parts.columns else 0,
                "version": dt.version(),
            }
        return out

    # -- maintenance ----------------------------------------------------------------------------------
    def compact(self) -> dict[str, int]:
        """Merge each partition's files into one, per table. One commit per table: readers see the old files
        or the merged ones, never neither; the files it replaced are deleted after the commit."""
        merged = files_before = removed = 0
        with self._mutex:
            self._begin_write()
            for p in self._tables():
                dt = _delta().DeltaTable(str(p))
                crash_point("store.compact.before-commit")
                with self._writing(f"compacting {p.name}"):
                    m = dt.optimize.compact()
                crash_point("store.compact.committed")
                merged += int(m.get("partitionsOptimized", 0))
                files_before += int(m.get("numFilesRemoved", 0))
                with self._writing(f"deleting {p.name}'s replaced files"):
                    removed += len(dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False))
                crash_point("store.compact.vacuumed")
        return {"days_compacted": merged, "files_before": files_before, "files_deleted": removed}

    def retention(self, keep_days: int, today: date | None = None) -> dict[str, object]:
        """Delete day partitions older than `keep_days` before `today` (UTC). The cut-off is recorded first
        (a table property) and rows before it are refused from then on, so re-running an old window does
        not bring deleted data back, and a crash between the two steps loses nothing."""
        today = today or datetime.now(UTC).date()
        cutoff = today - timedelta(days=keep_days)
        dropped = 0
        with self._mutex:
            self._begin_write()
            for p in self._tables():
                if p.name.upper() in UPSERTED:
                    continue
                dt = _delta().DeltaTable(str(p))
                days = pl.scan_delta(str(p)).select(PARTS).unique().collect()
                gone = days.filter(pl.col("_day") < cutoff.isoformat()).height
                prev = _retained_from(dt)
                with self._writing(f"retention of {p.name}"):
                    if prev is None or prev < cutoff:
                        dt.alter.set_table_properties({RETAINED_FROM: cutoff.isoformat()}, raise_if_not_exists=False)
                    crash_point("store.retention.floor-set")
                    if gone:
                        dt.delete(f"_day < '{cutoff.isoformat()}'")
                        crash_point("store.retention.deleted")
                        dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
                dropped += gone
        return {"days_deleted": dropped, "kept_from": cutoff.isoformat()}

    def upgrade(self) -> dict[str, int]:
        """Take the writer lock and bring an old-layout store to the Delta layout (also done by any writer)."""
        before = len(store_legacy.legacy_tables(self.root))
        with self._mutex:
            self._begin_write()
        return {"tables_upgraded": before, "files_cleaned": self.cleaned_files}


def _key(present: list[str], keys: list[str]) -> pl.Expr:
    """A series' identity as one string: its key values joined by '|' (missing columns count as empty)."""
    parts = [pl.col(k).cast(pl.String).fill_null("") if k in present else pl.lit("") for k in keys]
    return pl.concat_str(parts, separator="|")


def _retained_from(dt: Any | None) -> date | None:
    """The cut-off day retention recorded on a loaded table, if any."""
    v = None if dt is None else dt.metadata().configuration.get(RETAINED_FROM)
    return date.fromisoformat(v) if v else None


def _is_table(path: Path) -> bool:
    """A Delta table with at least one commit (a log folder holding only temporary files is not one yet)."""
    log = path / "_delta_log"
    return log.is_dir() and (any(log.glob("0*.json")) or any(log.glob("*.checkpoint*.parquet")))


def _check_source(source: str) -> None:
    if not _SOURCE_OK.match(source):
        raise GpufleetError(f"source name {source!r}: use letters, digits, '.', '_' and '-' (at most 128)")


def _refuse_legacy(root: Path) -> None:
    if store_legacy.legacy_tables(root) and not any(_is_table(t.parent) for t in root.glob("*/_delta_log")):
        raise GpufleetError(
            f"store {root} has the pre-Delta layout; run `gpufleet store upgrade --store {root}` once "
            "(or start the collector, which upgrades it)"
        )


def is_store(path: str | Path) -> bool:
    """Whether `path` is a collector store directory (Delta tables, or the old layout to upgrade)."""
    p = Path(path)
    return p.is_dir() and (
        any(_is_table(t.parent) for t in p.glob("*/_delta_log")) or bool(store_legacy.legacy_tables(p))
    )
