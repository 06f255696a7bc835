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
`--skip-bad-rows` those rows are dropped and counted.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from gpufleet.core.config import parse_yaml_model
from gpufleet.core.errors import GpufleetError, SchemaError, TraceError
from gpufleet.core.schemas import TABLES, table
from gpufleet.traces.base import ReadContext

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson", ".json")
# the --map file of the command being run (set by the CLI; a ContextVar keeps concurrent runs apart)
SCHEMA_MAP: ContextVar[Path | None] = ContextVar("SCHEMA_MAP", default=None)
UNITS: dict[str, float] = {
    "s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0, "d": 86400.0,
    "bytes": 1.0, "B": 1.0, "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40,
    "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "%": 0.01, "percent": 0.01, "fraction": 1.0, "milli": 1e-3,
}  # fmt: skip
RELATIVE_TIME = {"JOBS": ("submit_time",), "REQUESTS": ("arrival_time",)}


class TimeFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str | None = Field(None, description="strftime format; default: ISO 8601")
    epoch: str | None = Field(None, description="time zero for seconds-since columns; default: the earliest")


class SchemaMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="canonical column: column in the file")
    units: dict[str, str] = Field(default_factory=dict)
    timestamps: dict[str, TimeFormat] = Field(default_factory=dict)
    constants: dict[str, Any] = Field(default_factory=dict)


def is_user_file(ref: str) -> bool:
    """A path to a file (rather than a dataset reference)."""
    p = Path(ref)
    return ref.lower().endswith(SUFFIXES) or (p.exists() and p.is_file())


def load_map(path: Path, tbl: str) -> SchemaMap:
    try:
        text = path.read_text()
    except OSError as e:
        raise GpufleetError(f"--map {path}: cannot read it ({e.strerror})") from None
    import yaml

    raw = yaml.safe_load(text) or {}
    if isinstance(raw, dict) and any(k in TABLES for k in raw):  # one section per table
        section = raw.get(tbl)
        if section is None:
            return SchemaMap()
        return parse_yaml_model(yaml.safe_dump(section), SchemaMap, f"{path} ({tbl})")
    return parse_yaml_model(text, SchemaMap, str(path))


def _read(path: Path, ctx: ReadContext) -> pl.DataFrame:
    """The file as text columns (CSV, JSON Lines) or typed ones (Parquet), with the line each row came from."""
    name = path.name.lower()
    if not path.exists():
        raise TraceError(f"{path}: file not found")
    if name.endswith((".csv", ".csv.gz")):
        from gpufleet.traces.csvio import _raw

        return _raw(path).with_row_index("__line", offset=2)  # header is line 1
    try:
        if name.endswith(".parquet"):
            f = pl.read_parquet(path)
        else:
            f = pl.read_ndjson(path, infer_schema_length=None)
    except Exception as e:  # polars raises several kinds for a broken file
        raise TraceError(f"{path}: cannot read it ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if f.height == 0:
        raise TraceError(f"{path}: no data rows")
    return f.with_row_index("__line", offset=1 if not name.endswith(".parquet") else 0)


def read_user_file(
    path: Path, tbl_name: str | None, ctx: ReadContext, mapping: Path | None = None
) -> tuple[pl.DataFrame, str]:
    """A canonical frame of `tbl_name` (or the map's table) from a user's file; returns (frame, table)."""
    sm = SchemaMap()
    if mapping is not None:
        probe = load_map(mapping, tbl_name or "").table if tbl_name is None else None
        tbl_name = tbl_name or probe
        if tbl_name is None:
            raise GpufleetError(f"--map {mapping}: say which table the file holds (table: JOBS, NODES, ...)")
        sm = load_map(mapping, tbl_name.upper())
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
    ctx.files.append(str(path))
    line_word = "line" if not path.name.lower().endswith(".parquet") else "row"
    out: dict[str, pl.Series] = {}
    bad_any = pl.Series([False] * raw.height)
    for col in tbl.columns:
        src = sm.columns.get(col.name, col.name)
        if col.name in sm.constants:
            out[col.name] = pl.Series(col.name, [sm.constants[col.name]] * raw.height)
            continue
        if src not in raw.columns:
            if col.required and not (col.name == "kind" and tbl.name == "JOBS"):
                raise TraceError(
                    f"{path}: missing column {src!r} for {tbl.name}.{col.name} (file has: {', '.join(raw.columns[1:])})"
                )
            continue
        s = raw.get_column(src)
        conv = _convert(s, col.dtype, sm, col.name)
        bad = s.is_not_null() & conv.is_null()
        if bad.any():
            if ctx.on_bad_row == "raise":
                line = raw.get_column("__line").filter(bad)[0]
                raise TraceError(
                    f"{path}: {line_word} {line}, column {src!r}: cannot read {s.filter(bad)[0]!r} as"
                    f" {tbl.name}.{col.name} ({int(bad.sum())} such row(s); --skip-bad-rows drops and counts them)"
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
    frame = _relative_time(frame, tbl.name, sm, ctx)
    try:
        from gpufleet.core.schemas import validate

        return validate(frame, tbl), tbl.name
    except SchemaError as e:
        raise TraceError(f"{path}: {e}") from None


def _convert(s: pl.Series, dtype: pl.DataType, sm: SchemaMap, name: str) -> pl.Series:
    """One column to the canonical type, with the map's units and timestamp formats."""
    if name in sm.timestamps:
        fmt = sm.timestamps[name].format
        text = s.cast(pl.String)
        ts = (
            text.str.to_datetime(fmt, time_unit="us", strict=False)
            if fmt
            else text.str.to_datetime(time_unit="us", strict=False)
        )
        if ts.dtype == pl.Datetime("us") or getattr(ts.dtype, "time_zone", None) is None:
            ts = ts.dt.replace_time_zone("UTC")
        if dtype == pl.Float64:  # seconds; made relative to the epoch later
            return (ts.dt.epoch("us") / 1e6).alias(name)
        return ts.alias(name)
    if dtype == pl.String:
        return s.cast(pl.String)
    if isinstance(dtype, pl.Datetime):
        if s.dtype == pl.String:
            return s.str.to_datetime(time_unit="us", strict=False).dt.replace_time_zone("UTC")
        return s.cast(pl.Datetime("us", "UTC"), strict=False)
    f = (s.str.strip_chars() if s.dtype == pl.String else s).cast(pl.Float64, strict=False)
    unit = sm.units.get(name)
    if unit is not None:
        if unit not in UNITS:
            raise GpufleetError(f"--map units.{name}: unknown unit {unit!r}; valid: {', '.join(UNITS)}")
        f = f * UNITS[unit]
    if dtype == pl.Int64:
        return f.round().cast(pl.Int64, strict=False)
    return f


def _relative_time(frame: pl.DataFrame, tbl: str, sm: SchemaMap, ctx: ReadContext) -> pl.DataFrame:
    """Date columns mapped onto seconds-since-the-trace-epoch columns start at the earliest (or `epoch`)."""
    for col in RELATIVE_TIME.get(tbl, ()):
        if col not in sm.timestamps or col not in frame.columns:
            continue
        given = sm.timestamps[col].epoch
        if given:
            d = datetime.fromisoformat(given)
            t0 = (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()
        else:
            t0 = float(frame[col].min())  # type: ignore[arg-type]
        ctx.epoch = datetime.fromtimestamp(t0, UTC).isoformat()
        frame = frame.with_columns(pl.col(col) - t0)
    return frame
