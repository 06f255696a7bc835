"""Times in users' files: which columns hold them, the unit their numbers are in (`--time-unit`, or a map's
`units:`), and the checks that refuse a unit mix-up instead of replaying it (milliseconds read as seconds put
every job thousands of years apart and still "work").
"""

from __future__ import annotations

import polars as pl

from gpufleet.core.errors import TraceError

# seconds per unit; --time-unit takes these names
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
# Numbers in these columns are instants (seconds since an epoch, or since 1970 for the timestamp columns) ...
TIME_POINTS: dict[str, tuple[str, ...]] = {
    "JOBS": ("submit_time",),
    "REQUESTS": ("arrival_time",),
    "GPU_SAMPLES": ("ts",),
    "SERIES": ("ds",),
}
# ... and these are lengths of time.
TIME_SPANS: dict[str, tuple[str, ...]] = {"JOBS": ("duration",), "REQUESTS": ("service_time",)}
# 1e11 s is the year 5138: no instant in seconds is that late, while any epoch time in ms, us or ns is.
MAX_INSTANT_S = 1e11
# A median run longer than 30 days is what durations in milliseconds look like when read as seconds
# (a 45-minute job becomes 31 days); real traces' medians are minutes to hours.
MAX_MEDIAN_SPAN_S = 30 * 86400.0


def is_time_column(table: str, column: str) -> bool:
    """Whether `--time-unit` applies to numbers in this canonical column."""
    return column in TIME_POINTS.get(table, ()) or column in TIME_SPANS.get(table, ())


def _finer(unit: str, top_s: float) -> str | None:
    """The finer unit that brings `top_s` (read in `unit`) below MAX_INSTANT_S, if one does."""
    names = list(TIME_UNITS)
    for finer in names[names.index(unit) + 1 :]:
        if top_s * TIME_UNITS[finer] / TIME_UNITS[unit] <= MAX_INSTANT_S:
            return finer
    return None


def check_instants(where: str, column: str, seconds: pl.Series, unit: str, how: str) -> None:
    """Refuse instants that are only plausible in a finer unit; `how` says how to give the unit."""
    vals = seconds.drop_nulls().drop_nans()
    if vals.len() == 0:
        return
    top = float(vals.abs().max())  # type: ignore[arg-type]
    if top <= MAX_INSTANT_S:
        return
    read = f"read as {UNIT_WORDS.get(unit, unit)} the latest is {top:.4g} s, after the year 5000"
    finer = _finer(unit, top) if unit in TIME_UNITS else None
    if finer is None:
        raise TraceError(f"{where}: column {column!r}: {read}; these are not times in s, ms, us or ns")
    raise TraceError(
        f"{where}: column {column!r}: {read}; they look like {UNIT_WORDS[finer]}: {how.format(unit=finer)}"
    )


def check_spans(where: str, column: str, seconds: pl.Series, how: str) -> None:
    """Refuse lengths of time whose median says they are not seconds (only when no unit was given)."""
    vals = seconds.drop_nulls().drop_nans()
    if vals.len() == 0:
        return
    med = float(vals.median())  # type: ignore[arg-type]
    if med > MAX_MEDIAN_SPAN_S:
        raise TraceError(
            f"{where}: column {column!r}: the median is {med:.4g} s, over 30 days; if these are milliseconds"
            f" {how.format(unit='ms')} (or {how.format(unit='s')} if they really are seconds)"
        )
