"""Bring your own data: a CSV, CSV.gz, Parquet or JSON Lines file in the canonical schema of a table, or in a
foreign schema mapped onto it by a YAML file (`--map`):

```yaml
table: JOBS                      # optional when the option says which table it wants
columns: {job_id: JobId, submit_time: queued_at, duration: runtime_ms, num_gpus: gpus}
units: {duration: ms}            # s, ms, us, min, h, d; bytes, KiB, MiB, GiB, TiB; %, fraction
timestamps:                      # a column of dates: the format (strftime; default ISO 8601) and, for JOBS and
  submit_time: {format: "%Y-%m-%d %H:%M:%S"}    # REQUESTS, seconds since the earliest one (or `epoch`)
constants: {kind: train, gpu_type: A100}
```
A file holding several tables' maps uses the table names as top-level keys (`JOBS: {...}`, `NODES: {...}`).
Every value that does not convert is an error naming the file, the line (or row) and the column; with
`--skip-bad-rows` those rows are dropped and counted. Numbers in time columns are seconds unless `--time-unit`
(s, ms, us, ns) or the map's `units:` say otherwise; times that only make sense in a finer unit are refused
with that hint.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gpufleet.core.config import read_user_text, validate_model
from gpufleet.core.errors import GpufleetError, SchemaError, TraceError, brief
from gpufleet.core.schemas import TABLES, Column, Table, table
from gpufleet.traces.base import ReadContext
from gpufleet.traces.timeunits import TIME_POINTS, TIME_SPANS, TIME_UNITS, check_instants, check_spans, is_time_column

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson", ".json")
# the --map file of the command being run (set by the CLI; a ContextVar keeps concurrent runs apart)
SCHEMA_MAP: ContextVar[Path | None] = ContextVar("SCHEMA_MAP", default=None)
# the --time-unit of the command being run: the unit of numbers in time columns (None: seconds, checked)
TIME_UNIT: ContextVar[str | None] = ContextVar("TIME_UNIT", default=None)
UNITS: dict[str, float] = {
    "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0, "d": 86400.0,
    "bytes": 1.0, "B": 1.0, "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40,
    "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "%": 0.01, "percent": 0.01, "fraction": 1.0, "milli": 1e-3,
}  # fmt: skip
RELATIVE_TIME = {"JOBS": ("submit_time",), "REQUESTS": ("arrival_time",)}
FLAGS = {"oom_killed"}  # 0/1 columns a boolean column may fill


class TimeFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str | None = Field(None, description="strftime format; default: ISO 8601")
    epoch: str | None = Field(None, description="time zero for seconds-since columns; default: the earliest")

    @field_validator("epoch")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                datetime.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not an ISO 8601 time such as 2024-05-01T00:00:00Z") from None
        return v


class SchemaMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="canonical column: column in the file")
    units: dict[str, str] = Field(default_factory=dict)
    timestamps: dict[str, TimeFormat] = Field(default_factory=dict)
    constants: dict[str, Any] = Field(default_factory=dict)

    @field_validator("table")
    @classmethod
    def _known_table(cls, v: str | None) -> str | None:
        if v is not None and v.upper() not in TABLES:
            raise ValueError(f"unknown table {v!r}; valid: {', '.join(TABLES)}")
        return v.upper() if v else v

    @field_validator("units")
    @classmethod
    def _known_units(cls, v: dict[str, str]) -> dict[str, str]:
        for col, unit in v.items():
            if unit not in UNITS:
                raise ValueError(f"{col}: unknown unit {unit!r}; valid: {', '.join(UNITS)}")
        return v

    def check_against(self, tbl: Table, where: str) -> None:
        """Every key names a column of `tbl` (a typo must not be silently ignored)."""
        for section in ("columns", "units", "timestamps", "constants"):
            for key in getattr(self, section):
                if key not in tbl.by_name:
                    raise GpufleetError(
                        f"{where}: {section}.{key}: {tbl.name} has no column {key!r}"
                        f" (its columns: {', '.join(tbl.by_name)})"
                    )


def is_user_file(ref: str) -> bool:
    """A path to a file (rather than a dataset reference)."""
    p = Path(ref)
    return ref.lower().endswith(SUFFIXES) or (p.exists() and p.is_file())


def load_map(path: Path, tbl: str) -> SchemaMap:
    """The --map file's mapping for table `tbl` (its section when the file holds several tables)."""
    import yaml

    text = read_user_text(path, "--map")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise GpufleetError(f"--map {path}: not valid YAML ({brief(e)})") from None
    if isinstance(raw, dict) and any(k in TABLES for k in raw):  # one section per table
        section = raw.get(tbl)
        if section is None:
            return SchemaMap()
        return validate_model(section, SchemaMap, f"--map {path} ({tbl})")
    return validate_model(raw, SchemaMap, f"--map {path}")


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
    sm = SchemaMap()
    if mapping is not None:
        probe = load_map(mapping, tbl_name or "").table if tbl_name is None else None
        tbl_name = tbl_name or probe
        if tbl_name is None:
            raise GpufleetError(f"--map {mapping}: say which table the file holds (table: JOBS, NODES, ...)")
        sm = load_map(mapping, tbl_name.upper())
        if sm.table is not None and sm.table != tbl_name.upper():
            raise GpufleetError(f"--map {mapping}: table: {sm.table}, but this option reads {tbl_name.upper()}")
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise GpufleetError(f"--time-unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}")
    raw = _read(path, ctx)
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
    sm.check_against(tbl, f"--map {mapping}")
    ctx.files.append(str(path))
    line_word = "line" if not path.name.lower().endswith(".parquet") else "row"
    out: dict[str, pl.Series] = {}
    dated: set[str] = set()  # Float64 time columns read from dates: made relative like a map's timestamps
    bad_any = pl.Series([False] * raw.height)
    for col in tbl.columns:
        src = sm.columns.get(col.name, col.name)
        if col.name in sm.constants:
            out[col.name] = pl.Series(col.name, [sm.constants[col.name]] * raw.height)
            continue
        if src not in raw.columns:
            if col.name in sm.columns:
                raise GpufleetError(
                    f"--map {mapping}: columns.{col.name}: {path.name} has no column {src!r}"
                    f" (file has: {', '.join(raw.columns[1:])})"
                )
            if col.required and not (col.name == "kind" and tbl.name == "JOBS"):
                raise TraceError(
                    f"{path}: missing column {src!r} for {tbl.name}.{col.name} (file has: {', '.join(raw.columns[1:])})"
                )
            continue
        s = raw.get_column(src)
        _check_kind(path, s, tbl, col)
        conv, from_dates = _convert(path, s, tbl, col, sm, time_unit)
        if from_dates and conv.dtype == pl.Float64:
            dated.add(col.name)
        bad = s.is_not_null() & conv.is_null()
        if bad.any():
            if ctx.on_bad_row == "raise":
                line = raw.get_column("__line").filter(bad)[0]
                raise TraceError(
                    f"{path}: {line_word} {line}, column {src!r}: cannot read {s.filter(bad)[0]!r} as"
                    f" {tbl.name}.{col.name}{_hint(col)} ({int(bad.sum())} such row(s); --skip-bad-rows drops and"
                    " counts them)"
                )
            ctx.skip(f"{path.name}: bad {src}", int((bad & ~bad_any).sum()))
            bad_any = bad_any | bad
        out[col.name] = conv.alias(col.name)
    frame = pl.DataFrame(list(out.values()))
    if tbl.name == "JOBS" and "kind" not in frame.columns:
        frame = frame.with_columns(pl.lit("other").alias("kind"))
        ctx.notes.append("no kind column: every job is 'other'")
    if bad_any.any():
        frame = frame.filter(~bad_any)
    for col_name in TIME_SPANS.get(tbl.name, ()):
        if col_name in frame.columns and _unit(tbl.name, col_name, sm, time_unit) is None:
            check_spans(str(path), sm.columns.get(col_name, col_name), frame[col_name], _how(col_name, sm))
    frame = _relative_time(frame, tbl.name, sm, ctx, dated)
    try:
        from gpufleet.core.schemas import validate

        return validate(frame, tbl), tbl.name
    except SchemaError as e:
        raise TraceError(f"{path}: {e}") from None


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


def _utc(ts: pl.Series) -> pl.Series:
    """Datetimes in UTC at microsecond resolution (naive ones are taken as UTC)."""
    ts = ts.cast(pl.Datetime("us", getattr(ts.dtype, "time_zone", None)))
    if getattr(ts.dtype, "time_zone", None) is None:
        return ts.dt.replace_time_zone("UTC")
    return ts.dt.convert_time_zone("UTC")


def _dates(text: pl.Series, fmt: str | None) -> pl.Series:
    """Text to UTC datetimes; values that do not parse become null (the caller names the first one)."""
    try:
        return _utc(text.str.to_datetime(fmt, time_unit="us", strict=False))
    except pl.exceptions.ComputeError:  # polars could not infer a format from the first values: none parse
        return pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us", "UTC"))


def _numbers(s: pl.Series) -> pl.Series:
    return (s.str.strip_chars() if s.dtype == pl.String else s).cast(pl.Float64, strict=False)


def _convert(
    path: Path, s: pl.Series, tbl: Table, col: Column, sm: SchemaMap, time_unit: str | None
) -> tuple[pl.Series, bool]:
    """One column to the canonical type, with the map's units and timestamp formats and the time unit;
    also whether it was read from dates (a seconds column that is then made relative to its epoch)."""
    name, dtype = col.name, col.dtype
    if name in sm.timestamps:
        ts = _dates(s.cast(pl.String), sm.timestamps[name].format)
        return ((ts.dt.epoch("us") / 1e6) if dtype == pl.Float64 else ts).alias(name), True
    if dtype == pl.String:
        return s.cast(pl.String), False
    if s.dtype in (pl.Date, pl.Datetime):
        ts = _utc(s)
        return ((ts.dt.epoch("us") / 1e6) if dtype == pl.Float64 else ts).alias(name), dtype == pl.Float64
    if s.dtype == pl.Duration:
        return (s.dt.total_microseconds() / 1e6).alias(name), False
    if isinstance(dtype, pl.Datetime) and s.dtype == pl.String:
        nums = _numbers(s)
        if nums.null_count() > s.null_count():  # not all numbers: dates as text
            return _dates(s, None).alias(name), False
        s = nums
    f = _numbers(s)
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
