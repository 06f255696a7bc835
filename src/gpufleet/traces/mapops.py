"""What a map does to a file's columns before they are converted: computed columns and fill values
(`traces/maps.py` has the language; `traces/userfile.py` reads the file), and the text-to-number and
text-to-date parsing both share."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gpufleet.core.errors import GpufleetError
from gpufleet.traces.maps import Computed


def utc(ts: pl.Series) -> pl.Series:
    """Datetimes in UTC at microsecond resolution (naive ones are taken as UTC)."""
    ts = ts.cast(pl.Datetime("us", getattr(ts.dtype, "time_zone", None)))
    if getattr(ts.dtype, "time_zone", None) is None:
        return ts.dt.replace_time_zone("UTC")
    return ts.dt.convert_time_zone("UTC")


def dates(text: pl.Series, fmt: str | None) -> pl.Series:
    """Text to UTC datetimes; values that do not parse become null (the caller names the first one)."""
    try:
        return utc(text.str.to_datetime(fmt, time_unit="us", strict=False))
    except pl.exceptions.ComputeError:  # polars could not infer a format from the first values: none parse
        return pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us", "UTC"))
    except pl.exceptions.InvalidOperationError:  # a format polars refuses (e.g. only a time of day)
        return pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us", "UTC"))


def numbers(s: pl.Series) -> pl.Series:
    """Text or numbers to Float64; text that is not a number becomes null."""
    return (s.str.strip_chars() if s.dtype == pl.String else s).cast(pl.Float64, strict=False)


def _is_dates(s: pl.Series) -> bool:
    """A column of dates: typed so, or text none of whose values is a number (a column of numbers with a few
    unreadable cells stays numbers: those cells are then reported by line)."""
    if s.dtype in (pl.Date, pl.Datetime):
        return True
    return s.dtype == pl.String and s.null_count() < s.len() and numbers(s).null_count() == s.len()


def _seconds(s: pl.Series, fmt: str | None) -> pl.Series:
    """Dates (typed or text) as seconds since 1970."""
    ts = utc(s) if s.dtype in (pl.Date, pl.Datetime) else dates(s.cast(pl.String), fmt)
    return ts.dt.epoch("us") / 1e6


@dataclass
class Result:
    """A computed column: its values, the rows whose operand did not parse (with the first such operand's
    column and value, for the message), and whether it is seconds between dates (no unit applies then)."""

    values: pl.Series
    bad: pl.Series
    first_bad: tuple[str, object] | None
    from_dates: bool


def compute(raw: pl.DataFrame, expr: Computed, where: str, file_name: str) -> Result:
    """Evaluate `expr` over the file's columns (`where` names the map and field in errors)."""
    missing = [c for c in expr.operands if c not in raw.columns]
    if missing:
        raise GpufleetError(
            f"{where}: {expr.label()}: {file_name} has no column {missing[0]!r}"
            f" (file has: {', '.join(c for c in raw.columns if c != '__line')})"
        )
    cols = [raw.get_column(c) for c in expr.operands]
    from_dates = False
    if expr.op == "first":
        same = len({c.dtype for c in cols}) == 1
        vals = pl.select(pl.coalesce(cols if same else [c.cast(pl.String) for c in cols])).to_series()
        return Result(vals.alias(expr.label()), pl.Series([False] * raw.height), None, False)
    if expr.op == "diff" and any(_is_dates(c) for c in cols):
        kinds = ["dates" if _is_dates(c) else "numbers" for c in cols]
        if len(set(kinds)) > 1:
            raise GpufleetError(
                f"{where}: {expr.label()}: {expr.operands[0]!r} holds {kinds[0]}, {expr.operands[1]!r} {kinds[1]}"
            )
        conv = [_seconds(c, expr.format) for c in cols]
        from_dates = True
    else:
        conv = [numbers(c) for c in cols]
    bad = pl.Series([False] * raw.height)
    first_bad: tuple[str, object] | None = None
    for name, c, v in zip(expr.operands, cols, conv, strict=True):
        b = c.is_not_null() & v.is_null()
        if b.any() and first_bad is None:
            first_bad = (name, c.filter(b)[0])
        bad = bad | b
    if expr.op == "diff":
        vals = conv[0] - conv[1]
    else:  # sum: an empty cell counts as 0, a row of empty cells stays empty
        frame = pl.DataFrame({str(k): v for k, v in enumerate(conv)})
        total = frame.select(pl.sum_horizontal(pl.all())).to_series()
        empty = frame.select(pl.all_horizontal(pl.all().is_null())).to_series()
        vals = pl.select(pl.when(empty).then(None).otherwise(total)).to_series()
    return Result(vals.alias(expr.label()), bad, first_bad, from_dates)


def fill(s: pl.Series, value: str | int | float) -> pl.Series:
    """`s` with its empty cells set to `value` (checked against the column's type by SchemaMap)."""
    if s.dtype in (pl.String, pl.Null) or isinstance(value, str):
        return s.cast(pl.String).fill_null(str(value))
    return s.fill_null(value)
