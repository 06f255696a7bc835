"""Careful CSV reading for trace files: every failure names the file, the line and the column.

Files are read as text first (polars, fast), then each column is converted; a value that does not
convert is either an error (default) or a counted skip, never a silent null.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Literal

import polars as pl

from gpufleet.core.errors import TraceError, brief
from gpufleet.traces.base import ReadContext

Kind = Literal["str", "float", "int", "datetime"]
NULLS = ["", "None", "NULL", "null", "NaN", "nan"]


def _raw(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise TraceError(f"{path}: file not found")
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a file")
    if path.stat().st_size == 0:
        raise TraceError(f"{path}: file is empty")
    try:
        if path.suffix == ".gz":
            # Decompress ourselves so a truncated archive is reported as such, not as a parse error.
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (EOFError, OSError, zlib.error) as e:
        raise TraceError(f"{path}: cannot decompress ({e}); the file is truncated or not gzip") from None
    if not data.strip():
        raise TraceError(f"{path}: file is empty")
    nul = data.find(b"\x00", 0, 1 << 16)  # polars reads NUL bytes as text: a binary file would pass as CSV
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise TraceError(f"{path}: binary content, not CSV text (a NUL byte at offset {nul}, line {line})")
    try:
        return pl.read_csv(data, infer_schema=False, null_values=NULLS, raise_if_empty=True)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError) as e:
        raise TraceError(f"{path}: {_diagnose(data) or brief(e)}") from None


def _diagnose(data: bytes) -> str | None:
    """Why polars refused the bytes, said with a line number (polars does not say which line)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"{brief(e)}; save it as UTF-8 CSV"
    return _first_bad_line(text)


def _first_bad_line(text: str) -> str | None:
    """Find the first line whose field count differs from the header, or that the csv module cannot parse."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            return "file is empty"
        for row in reader:
            if row and len(row) != len(header):
                return f"line {reader.line_num}: {len(row)} fields, header has {len(header)}"
    except csv.Error as e:
        return f"line {reader.line_num}: {e}"
    return None


def read_csv(ctx: ReadContext, name: str, columns: dict[str, Kind], *, others: Kind | None = None) -> pl.DataFrame:
    """Read `name` from the dataset folder, keeping `columns` converted to their kinds.

    With `others`, every further column of the header is kept too, converted to that kind.

    Bad values raise TraceError naming file, line and column, or with on_bad_row='skip' their rows
    are dropped and counted in ctx.skipped under 'bad <column>'.
    """
    path = ctx.path(name)
    df = _raw(path)
    if df.height == 0:
        raise TraceError(f"{path}: no data rows")
    if others is not None:
        columns = columns | {c: others for c in df.columns if c not in columns}
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TraceError(f"{path}: missing column {missing[0]!r} (file has: {', '.join(df.columns)})")
    df = df.select(list(columns)).with_row_index("__line", offset=2)  # header is line 1
    converted = []
    bad_any = pl.Series([False] * df.height)
    for col, kind in columns.items():
        s = df.get_column(col)
        out = _convert(s, kind)
        bad = s.is_not_null() & out.is_null()
        if bad.any():
            if ctx.on_bad_row == "raise":
                line = df.get_column("__line").filter(bad)[0]
                val = s.filter(bad)[0]
                raise TraceError(
                    f"{path}: line {line}, column {col!r}: cannot read {val!r} as {kind}"
                    f" ({int(bad.sum())} such row(s); --skip-bad-rows drops and counts them)"
                )
            ctx.skip(f"{name}: bad {col}", int((bad & ~bad_any).sum()))
            bad_any = bad_any | bad
        converted.append(out.alias(col))
    out_df = pl.DataFrame(converted)
    return out_df.filter(~bad_any) if bad_any.any() else out_df


def _convert(s: pl.Series, kind: Kind) -> pl.Series:
    if kind == "str":
        return s
    if kind == "datetime":
        return s.str.to_datetime(time_unit="us", strict=False).dt.replace_time_zone("UTC")
    f = s.str.strip_chars().cast(pl.Float64, strict=False)
    if kind == "float":
        return f
    whole = (f.floor() == f).fill_null(False) & f.is_finite().fill_null(False)
    return pl.select(pl.when(whole).then(f).otherwise(None).cast(pl.Int64)).to_series().alias(s.name)


def expect_seconds(
    ctx: ReadContext,
    name: str,
    s: pl.Series,
    *,
    max_median: float | None = None,
    max_value: float | None = None,
) -> None:
    """Refuse a time column whose range says it is not in seconds (for example milliseconds).

    The bounds come from the dataset's README with wide slack, so only a unit error trips them.
    """
    vals = s.drop_nulls()
    if vals.len() == 0:
        return
    med, top = float(vals.median()), float(vals.max())  # type: ignore[arg-type]
    if max_median is not None and med > max_median:
        raise TraceError(
            f"{ctx.folder / name if ctx.folder else name}: column {s.name!r} median {med:.4g} is far"
            f" above the expected {max_median:.4g} s; is it in milliseconds instead of seconds?"
        )
    if max_value is not None and top > max_value:
        raise TraceError(
            f"{ctx.folder / name if ctx.folder else name}: column {s.name!r} max {top:.4g} is far"
            f" above the expected {max_value:.4g} s; is it in milliseconds instead of seconds?"
        )


def drop_nulls_counted(ctx: ReadContext, df: pl.DataFrame, cols: list[str], reason: str) -> pl.DataFrame:
    """Drop rows with nulls in `cols`, counting them under `reason`."""
    mask = pl.any_horizontal([pl.col(c).is_null() for c in cols])
    n = df.filter(mask).height
    ctx.skip(reason, n)
    return df.filter(~mask) if n else df
