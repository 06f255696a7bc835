"""Bring your own data: a CSV, CSV.gz, Parquet or JSON Lines file in the canonical schema of a table, or in a
foreign schema mapped onto it by a YAML file (`--map`, the map language of `traces/maps.py` and docs/data.md:
columns, computed columns, fill values for empty cells, units, timestamp formats, constants, one section per table).

Every value that does not convert is an error naming the file, the line (or row) and the column; with
`--skip-bad-rows` those rows are dropped and counted. Numbers in time columns are seconds unless `--time-unit`
(s, ms, us, ns) or the map's `units:` say otherwise; times that only make sense in a finer unit are refused
with that hint. The file's columns that no canonical column reads are listed in one note (`ReadContext.notes`,
which the command prints), as are the empty cells a `fill:` filled.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from gpufleet.core.errors import GpufleetError, SchemaError, TraceError, brief
from gpufleet.core.schemas import TABLES, Column, Table, table
from gpufleet.traces.base import ReadContext
from gpufleet.traces.mapops import compute, dates, fill, numbers, utc
from gpufleet.traces.maps import UNITS, SchemaMap, load_map, where_of
from gpufleet.traces.timeunits import TIME_POINTS, TIME_SPANS, TIME_UNITS, check_instants, check_spans, is_time_column

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson", ".json")
# the --map file of the command being run (set by the CLI; a ContextVar keeps concurrent runs apart)
SCHEMA_MAP: ContextVar[Path | None] = ContextVar("SCHEMA_MAP", default=None)
# the --time-unit of the command being run: the unit of numbers in time columns (None: seconds, checked)
TIME_UNIT: ContextVar[str | None] = ContextVar("TIME_UNIT", default=None)
# where the command being run shows what reading a user's file decided (columns not read, cells filled)
READ_NOTES: ContextVar[Callable[[str], None] | None] = ContextVar("READ_NOTES", default=None)
RELATIVE_TIME = {"JOBS": ("submit_time",), "REQUESTS": ("arrival_time",)}
FLAGS = {"oom_killed"}  # 0/1 columns a boolean column may fill


def is_user_file(ref: str) -> bool:
    """A path to a file (rather than a dataset reference)."""
    p = Path(ref)
    return ref.lower().endswith(SUFFIXES) or (p.exists() and p.is_file())


def _read(path: Path, ctx: ReadContext) -> pl.DataFrame:
    """The file as text columns (CSV, JSON Lines) or typed ones (Parquet), with the line each row came from."""
    name = path.name.lower()
    if not path.exists():
        raise TraceError(f"{path}: file not found")
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a file")
    if name.endswith((".csv", ".csv.gz")):
        from gpufleet.traces.csvio import _raw

        df = _raw(path)
        if df.height == 0:
            raise TraceError(f"{path}: no data rows (only the header: {', '.join(df.columns)})")
        return df.with_row_index("__line", offset=2)  # header is line 1
    if not name.endswith(SUFFIXES):
        raise TraceError(f"{path}: unknown format; give a {', '.join(SUFFIXES)} file (or a Slurm sacct export)")
    try:
        if name.endswith(".parquet"):
            f = pl.read_parquet(path)
        else:
            f = pl.read_ndjson(path, infer_schema_length=None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # polars raises several kinds for a broken file, a Rust panic among them
        raise TraceError(f"{path}: cannot read it ({type(e).__name__}: {brief(e)})") from None
    if f.height == 0:
        raise TraceError(f"{path}: no data rows")
    return f.with_row_index("__line", offset=1 if not name.endswith(".parquet") else 0)


def read_user_file(
    path: Path, tbl_name: str | None, ctx: ReadContext, mapping: Path | None = None, time_unit: str | None = None
) -> tuple[pl.DataFrame, str]:
    """A canonical frame of `tbl_name` (or the map's table) from a user's file; returns (frame, table).
    `time_unit` is the unit of numbers in time columns (None: seconds, refused when implausible)."""
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise GpufleetError(f"--time-unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}")
    raw = _read(path, ctx)
    sm = load_map(mapping, tbl_name, raw.columns) if mapping is not None else None
    if sm is not None and tbl_name is None:
        tbl_name = sm.table
        if tbl_name is None:
            raise GpufleetError(f"--map {mapping}: say which table the file holds (table: JOBS, NODES, ...)")
    where = where_of(mapping, sm) if mapping is not None and sm is not None else "--map"
    # a map for other tables only: this file is read as it is (said when a column is then missing)
    unmapped = f"; --map {mapping} maps other tables, not {tbl_name}" if mapping is not None and sm is None else ""
    sm = sm or SchemaMap()
    if tbl_name is None:  # the one canonical table whose required columns the file has
        fits = [
            t.name
            for t in TABLES.values()
            if all(
                c.name in raw.columns for c in t.columns if c.required and not (t.name == "JOBS" and c.name == "kind")
            )
        ]
        if len(fits) != 1:
            raise GpufleetError(
                f"{path}: which table is it? its columns fit {', '.join(fits) or 'no canonical table'};"
                " give --map with `table:` or use the option that names it"
            )
        tbl_name = fits[0]
    tbl = table(tbl_name)
    sm.check_against(tbl, where)
    ctx.files.append(str(path))
    line_word = "line" if not path.name.lower().endswith(".parquet") else "row"
    file_cols = ", ".join(c for c in raw.columns if c != "__line")
    out: dict[str, pl.Series] = {}
    used: set[str] = set()  # the file's columns something reads; the others are listed in a note
    filled: list[str] = []
    dated: set[str] = set()  # Float64 time columns read from dates: made relative like a map's timestamps
    exact: set[str] = set()  # computed as seconds between dates: no unit applies, none is guessed
    bad_any = pl.Series([False] * raw.height)
    for col in tbl.columns:
        src = sm.columns.get(col.name, col.name)
        if col.name in sm.constants:
            out[col.name] = pl.Series(col.name, [sm.constants[col.name]] * raw.height)
            continue
        res = None
        if col.name in sm.computed:
            expr = sm.computed[col.name]
            res = compute(raw, expr, f"{where}: computed.{col.name}", path.name)
            used.update(expr.operands)
            s, src = res.values, expr.label()
            if res.from_dates and (col.dtype != pl.Float64 or col.name in sm.units):
                why = "takes no unit" if col.name in sm.units else f"is not a length in seconds ({tbl.name}.{col.name})"
                raise GpufleetError(f"{where}: computed.{col.name}: {src} subtracts dates (seconds between); it {why}")
        elif src not in raw.columns:
            if col.name in sm.columns or col.name in sm.fill:
                key = "columns" if col.name in sm.columns else "fill"
                raise GpufleetError(
                    f"{where}: {key}.{col.name}: {path.name} has no column {src!r} (file has: {file_cols})"
                )
            if col.required and not (col.name == "kind" and tbl.name == "JOBS"):
                raise TraceError(
                    f"{path}: missing column {src!r} for {tbl.name}.{col.name} (file has: {file_cols}){unmapped}"
                )
            continue
        else:
            s = raw.get_column(src)
            used.add(src)
            _check_kind(path, s, tbl, col)
        if col.name in sm.fill and s.null_count():
            filled.append(f"{col.name} {s.null_count():,} with {sm.fill[col.name]!r}")
            s = fill(s, sm.fill[col.name])
        if res is not None and res.from_dates:
            conv, from_dates = s, False  # seconds already: no unit, no time-unit check
            exact.add(col.name)
        else:
            conv, from_dates = _convert(path, s, tbl, col, sm, time_unit, where)
        if from_dates and conv.dtype == pl.Float64:
            dated.add(col.name)
        bad = s.is_not_null() & conv.is_null()
        if res is not None:
            bad = bad | res.bad
        if bad.any():
            shown_col, shown = res.first_bad if res is not None and res.first_bad else (src, s.filter(bad)[0])
            if ctx.on_bad_row == "raise":
                line = raw.get_column("__line").filter(bad)[0]
                raise TraceError(
                    f"{path}: {line_word} {line}, column {shown_col!r}: cannot read {shown!r} as"
                    f" {tbl.name}.{col.name}{_hint(col)} ({int(bad.sum())} such row(s); --skip-bad-rows drops and"
                    " counts them)"
                )
            ctx.skip(f"{path.name}: bad {shown_col}", int((bad & ~bad_any).sum()))
            bad_any = bad_any | bad
        out[col.name] = conv.alias(col.name)
    frame = pl.DataFrame(list(out.values()))
    if tbl.name == "JOBS" and "kind" not in frame.columns:
        frame = frame.with_columns(pl.lit("other").alias("kind"))
        ctx.notes.append("no kind column: every job is 'other'")
    if filled:
        ctx.notes.append(f"empty cells filled (fill:): {'; '.join(filled)}")
    unread = [c for c in raw.columns if c != "__line" and c not in used]
    if unread:
        ctx.notes.append(f"columns not read (no {tbl.name} column maps to them): {', '.join(unread)}")
    if bad_any.any():
        frame = frame.filter(~bad_any)
    for col_name in TIME_SPANS.get(tbl.name, ()):
        if col_name in frame.columns and col_name not in exact and _unit(tbl.name, col_name, sm, time_unit) is None:
            label = sm.computed[col_name].label() if col_name in sm.computed else sm.columns.get(col_name, col_name)
            check_spans(str(path), label, frame[col_name], _how(col_name, sm))
    frame = _relative_time(frame, tbl.name, sm, ctx, dated)
    try:
        from gpufleet.core.schemas import validate

        return validate(frame, tbl), tbl.name
    except SchemaError as e:
        hint = f" (empty cells can be given a value in --map: fill: {{{e.column}: ...}})" if "null" in e.problem else ""
        raise TraceError(f"{path}: {e}{hint}") from None


def _unit(tbl: str, col: str, sm: SchemaMap, time_unit: str | None) -> str | None:
    """The unit numbers in `col` are in, when the user gave one (the map's units: first, then --time-unit)."""
    if col in sm.units:
        return sm.units[col]
    return time_unit if is_time_column(tbl, col) else None


def _how(col: str, sm: SchemaMap) -> str:
    """How to state a column's unit, as a template with {unit}."""
    return f"set units.{col}: {{unit}} in --map" if col in sm.units else "pass --time-unit {unit}"


def _hint(col: Column) -> str:
    if isinstance(col.dtype, pl.Datetime):
        return " (ISO 8601 like 2024-05-01T08:00:00Z, numbers since 1970 in --time-unit, or a map's timestamps format)"
    return ""


def _check_kind(path: Path, s: pl.Series, tbl: Table, col: Column) -> None:
    """Refuse a typed column (Parquet, JSON) whose kind cannot hold the canonical column's values."""
    d = s.dtype
    if d == pl.Null or d == pl.String:
        return
    need = "text"
    ok = not (d.is_nested() or d in (pl.Binary, pl.Object))
    if col.dtype in (pl.Float64, pl.Int64):
        need = "numbers"
        ok = ok and (
            d.is_numeric()
            or (d == pl.Boolean and col.name in FLAGS)
            or (d in (pl.Date, pl.Datetime) and col.name in TIME_POINTS.get(tbl.name, ()))
            or (d == pl.Duration and col.name in TIME_SPANS.get(tbl.name, ()))
        )
    elif isinstance(col.dtype, pl.Datetime):
        need = "timestamps"
        ok = ok and (d.is_numeric() or d in (pl.Date, pl.Datetime))
    if not ok:
        raise TraceError(f"{path}: column {s.name!r} holds {d} values; {tbl.name}.{col.name} needs {need}")


def _convert(
    path: Path, s: pl.Series, tbl: Table, col: Column, sm: SchemaMap, time_unit: str | None, where: str = "--map"
) -> tuple[pl.Series, bool]:
    """One column to the canonical type, with the map's units and timestamp formats and the time unit;
    also whether it was read from dates (a seconds column that is then made relative to its epoch)."""
    name, dtype = col.name, col.dtype
    if name in sm.timestamps:
        ts = dates(s.cast(pl.String), sm.timestamps[name].format)
        return ((ts.dt.epoch("us") / 1e6) if dtype == pl.Float64 else ts).alias(name), True
    if dtype == pl.String:
        return s.cast(pl.String), False
    if s.dtype in (pl.Date, pl.Datetime):
        ts = utc(s)
        return ((ts.dt.epoch("us") / 1e6) if dtype == pl.Float64 else ts).alias(name), dtype == pl.Float64
    if s.dtype == pl.Duration:
        return (s.dt.total_microseconds() / 1e6).alias(name), False
    if isinstance(dtype, pl.Datetime) and s.dtype == pl.String:
        nums = numbers(s)
        if nums.null_count() > s.null_count():  # not all numbers: dates as text
            if name in sm.units:
                raise GpufleetError(
                    f"{where}: units.{name}: {sm.columns.get(name, name)!r} in {path.name} holds dates, not numbers"
                    f" (e.g. {s.filter(nums.is_null() & s.is_not_null())[0]!r}); a unit applies to numbers only"
                )
            return dates(s, None).alias(name), False
        s = nums
    f = numbers(s)
    unit = _unit(tbl.name, name, sm, time_unit)
    if unit is not None:
        f = f * UNITS[unit]
    if name in TIME_POINTS.get(tbl.name, ()):
        check_instants(str(path), sm.columns.get(name, name), f, unit or "s", _how(name, sm))
    if isinstance(dtype, pl.Datetime):  # numbers since 1970, now in seconds
        us = (f * 1e6).round().cast(pl.Int64, strict=False)
        return pl.from_epoch(us, time_unit="us").dt.replace_time_zone("UTC").alias(name), False
    if dtype == pl.Int64:
        return f.round().cast(pl.Int64, strict=False), False
    return f, False


def _relative_time(frame: pl.DataFrame, tbl: str, sm: SchemaMap, ctx: ReadContext, dated: set[str]) -> pl.DataFrame:
    """Columns read from dates into seconds-since-the-trace-epoch columns start at the earliest (or `epoch`)."""
    for col in RELATIVE_TIME.get(tbl, ()):
        if (col not in sm.timestamps and col not in dated) or col not in frame.columns:
            continue
        given = sm.timestamps[col].epoch if col in sm.timestamps else None
        if given:
            d = datetime.fromisoformat(given)
            t0 = (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()
        elif frame[col].drop_nulls().len():
            t0 = float(frame[col].min())  # type: ignore[arg-type]
        else:
            continue
        ctx.epoch = datetime.fromtimestamp(t0, UTC).isoformat()
        frame = frame.with_columns(pl.col(col) - t0)
    return frame
